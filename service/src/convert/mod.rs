//! Proto ↔ domain conversions, one file per service. Requests are destructured exhaustively
//! (no `..`), so a field added to the proto fails to compile here until it is handled.
pub mod family;
pub mod forecast;
pub mod registry;
