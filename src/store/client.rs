//! The COS HTTP client: one reqwest client, signing every request, typed errors.
