//! fs (later issues).
