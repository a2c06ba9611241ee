//! The error registry: every error that can reach a client maps to one MySQL error number,
//! its SQLSTATE, and whether retrying the transaction can succeed. The proxy and drivers rely
//! on the retry hint (sysbench and TPC-C drivers retry exactly 1205, 1213 and 1020).
//!
//! Numbers and SQLSTATEs are MySQL 8.0's, from its server error reference.

use std::fmt;

/// One entry of the registry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    /// MySQL's error number (`errno`).
    pub errno: u16,
    /// The five-character SQLSTATE sent in the error packet.
    pub sqlstate: &'static str,
    /// MySQL's symbolic name, for logs and docs.
    pub name: &'static str,
    /// Whether the client can succeed by retrying the transaction.
    pub retryable: bool,
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, SQLSTATE {})",
            self.errno, self.name, self.sqlstate
        )
    }
}

macro_rules! codes {
    ($($name:ident = ($errno:expr, $state:expr, $retry:expr);)*) => {
        $(
            #[doc = concat!("MySQL error ", stringify!($errno), ", ", stringify!($name), ".")]
            pub const $name: ErrorCode = ErrorCode {
                errno: $errno,
                sqlstate: $state,
                name: stringify!($name),
                retryable: $retry,
            };
        )*
        /// Every registered code, for lookups by number and for the docs.
        pub const ALL: &[ErrorCode] = &[$($name),*];
    };
}

codes! {
    ER_DUP_ENTRY = (1062, "23000", false);
    ER_NO_SUCH_TABLE = (1146, "42S02", false);
    ER_BAD_DB_ERROR = (1049, "42000", false);
    ER_BAD_FIELD_ERROR = (1054, "42S22", false);
    ER_WRONG_GROUP_FIELD = (1056, "42000", false);
    ER_PARSE_ERROR = (1064, "42000", false);
    ER_NOT_SUPPORTED_YET = (1235, "42000", false);
    ER_LOCK_WAIT_TIMEOUT = (1205, "HY000", true);
    ER_LOCK_DEADLOCK = (1213, "40001", true);
    ER_CHECKREAD = (1020, "HY000", true);
    ER_LOCK_NOWAIT = (3572, "HY000", false);
    ER_QUERY_INTERRUPTED = (1317, "70100", false);
    ER_QUERY_TIMEOUT = (3024, "HY000", false);
    ER_OUT_OF_RESOURCES = (1041, "HY000", true);
    ER_TOO_BIG_ROWSIZE = (1118, "42000", false);
    ER_TOO_LONG_KEY = (1071, "42000", false);
    ER_DATA_TOO_LONG = (1406, "22001", false);
    ER_WARN_DATA_OUT_OF_RANGE = (1264, "22003", false);
    ER_TRUNCATED_WRONG_VALUE = (1292, "22007", false);
    ER_BAD_NULL_ERROR = (1048, "23000", false);
    ER_ERROR_ON_WRITE = (1026, "HY000", false);
    ER_FILE_CORRUPT = (1034, "HY000", false);
    ER_INTERNAL_ERROR = (1815, "HY000", false);
    ER_UNKNOWN_ERROR = (1105, "HY000", false);
    ER_UNKNOWN_CHARACTER_SET = (1115, "42000", false);
    ER_XA_RBROLLBACK = (1402, "XA100", true);
    ER_TRANS_CACHE_FULL = (1197, "HY000", false);
    ER_SP_DOES_NOT_EXIST = (1305, "42000", false);
    ER_CON_COUNT_ERROR = (1040, "08004", false);
    ER_HANDSHAKE_ERROR = (1043, "08S01", false);
    ER_ACCESS_DENIED_ERROR = (1045, "28000", false);
    ER_UNKNOWN_COM_ERROR = (1047, "08S01", false);
    ER_UNKNOWN_STMT_HANDLER = (1243, "HY000", false);
    ER_WRONG_ARGUMENTS = (1210, "HY000", false);
    ER_WRONG_PARAMCOUNT_TO_NATIVE_FCT = (1582, "42000", false);
    ER_MIX_OF_GROUP_FUNC_AND_FIELDS = (1140, "42000", false);
    ER_NET_PACKET_TOO_LARGE = (1153, "08S01", false);
    ER_MAX_PREPARED_STMT_COUNT_REACHED = (1461, "42000", false);
    ER_TRUNCATED_WRONG_VALUE_FOR_FIELD = (1366, "HY000", false);
    ER_NO_DEFAULT_FOR_FIELD = (1364, "HY000", false);
    ER_DB_CREATE_EXISTS = (1007, "HY000", false);
    ER_DB_DROP_EXISTS = (1008, "HY000", false);
    ER_TABLE_EXISTS_ERROR = (1050, "42S01", false);
    ER_BAD_TABLE_ERROR = (1051, "42S02", false);
    ER_NO_DB_ERROR = (1046, "3D000", false);
    ER_DUP_FIELDNAME = (1060, "42S21", false);
    ER_WRONG_VALUE_COUNT_ON_ROW = (1136, "21S01", false);
    ER_DATA_OUT_OF_RANGE = (1690, "22003", false);
    ER_UNSUPPORTED_PS = (1295, "HY000", false);
    ER_UNKNOWN_SYSTEM_VARIABLE = (1193, "HY000", false);
    ER_NON_UNIQ_ERROR = (1052, "23000", false);
    ER_REQUIRES_PRIMARY_KEY = (1173, "42000", false);
    ER_DUP_KEYNAME = (1061, "42000", false);
    ER_CANT_DROP_FIELD_OR_KEY = (1091, "42000", false);
    ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = (1792, "25006", false);
    ER_TABLE_NOT_LOCKED = (1100, "HY000", false);
    ER_TABLE_NOT_LOCKED_FOR_WRITE = (1099, "HY000", false);
    ER_ILLEGAL_HA = (1031, "HY000", false);
    ER_CANT_REMOVE_ALL_FIELDS = (1090, "42000", false);
    ER_KEY_COLUMN_DOES_NOT_EXITS = (1072, "42000", false);
    ER_INVALID_USE_OF_NULL = (1138, "22004", false);
    ER_CANNOT_USER = (1396, "HY000", false);
    ER_PASSWORD_NO_MATCH = (1133, "42000", false);
    ER_USER_DOES_NOT_EXIST = (3162, "HY000", false);
    ER_USER_ALREADY_EXISTS = (3163, "HY000", false);
    ER_CANT_CREATE_USER_WITH_GRANT = (1410, "42000", false);
    ER_NONEXISTING_GRANT = (1141, "42000", false);
    ER_NO_SUCH_THREAD = (1094, "HY000", false);
    ER_TOO_MANY_ROWS = (1172, "42000", false);
    ER_SP_FETCH_NO_DATA = (1329, "02000", false);
    ER_WRONG_NUMBER_OF_COLUMNS_IN_SELECT = (1222, "21000", false);
}

/// Looks a code up by its MySQL number.
pub fn by_errno(errno: u16) -> Option<ErrorCode> {
    ALL.iter().copied().find(|c| c.errno == errno)
}

/// Implemented by every crate's error type: the registry entry a client is told.
pub trait MysqlError: std::error::Error {
    /// The MySQL error this becomes at the protocol boundary.
    fn code(&self) -> ErrorCode;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_states_well_formed() {
        for (i, a) in ALL.iter().enumerate() {
            assert_eq!(a.sqlstate.len(), 5, "{a:?}");
            for b in &ALL[i + 1..] {
                assert_ne!(a.errno, b.errno, "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn retryable_codes_are_the_ones_drivers_retry() {
        let retry: Vec<u16> = ALL
            .iter()
            .filter(|c| c.retryable)
            .map(|c| c.errno)
            .collect();
        for errno in [1205, 1213, 1020] {
            assert!(retry.contains(&errno));
        }
        assert!(!by_errno(1062).unwrap().retryable);
        assert_eq!(by_errno(1213).unwrap().sqlstate, "40001");
    }
}
