//! The local COS-compatible server (`haul serve`).
