//! COS XML bodies (quick-xml + serde), lenient where COS is sloppy.
