//! Request signing. COS's HMAC-SHA1 scheme today; S3 SigV4 would live beside it.

pub mod cos;
