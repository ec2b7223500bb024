//! The limits the compiler enforces, each reported with its own error code.

/// Largest input accepted by [`compile`](crate::compile), in bytes (1 MiB).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Most entries in `attributes`.
pub const MAX_ATTRIBUTES: usize = 500;
/// Most entries in `status`.
pub const MAX_STATUSES: usize = 64;
/// Most entries in `orderBy`.
pub const MAX_ORDER_KEYS: usize = 16;
/// Longest GET URL Dataverse accepts.
pub const MAX_URL_LENGTH: usize = 32_768;
/// `createdBeforeDays` range.
pub const DAYS_RANGE: (u32, u32) = (1, 36_500);
/// `top` range (Dataverse returns at most 5,000 rows per request).
pub const TOP_RANGE: (u32, u32) = (1, 5_000);
/// Largest statuscode value (Dataverse option values are 32-bit).
pub const MAX_STATUS_VALUE: i64 = i32::MAX as i64;
