//! MySQL statements the SQL parser does not know, recognised from their tokens: the
//! diagnostics and catalog `SHOW`s that clients and `mysqldump` send, and mysqldump's
//! `ALTER TABLE ... DISABLE KEYS`. Only consulted when the parser rejects a statement or
//! reads it as `SHOW <variable>`, so ordinary statements pay nothing for it.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// A recognised statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MysqlOnly {
    /// `SHOW WARNINGS` / `SHOW ERRORS` (`errors`), or their `SHOW COUNT(*) ...` forms.
    Diagnostics { errors: bool, count: bool },
    /// `SHOW TABLE STATUS [FROM db] [LIKE 'p']`.
    TableStatus {
        db: Option<String>,
        like: Option<String>,
    },
    /// `SHOW TRIGGERS [FROM db] [LIKE 'p']`.
    Triggers {
        db: Option<String>,
        like: Option<String>,
    },
    /// `SHOW {INDEX|INDEXES|KEYS} {FROM|IN} [db.]t [{FROM|IN} db]`.
    Index { db: Option<String>, table: String },
    /// `ALTER TABLE [db.]t {DISABLE|ENABLE} KEYS`.
    ToggleKeys { db: Option<String>, table: String },
    /// `ALTER SYSTEM MAJOR FREEZE` (OceanBase's spelling): a major compaction of every
    /// tablet, now.
    MajorFreeze,
    /// `START TRANSACTION WITH CONSISTENT SNAPSHOT [, READ ONLY | READ WRITE]`.
    StartConsistent { read_only: bool },
    /// `CREATE USER [IF NOT EXISTS] account [IDENTIFIED BY 'pw'] [, ...]`.
    CreateUser {
        if_not_exists: bool,
        users: Vec<(Account, Option<String>)>,
    },
    /// `ALTER USER [IF EXISTS] account IDENTIFIED BY 'pw' [, ...]`.
    AlterUser {
        if_exists: bool,
        users: Vec<(Account, Option<String>)>,
    },
    /// `DROP USER [IF EXISTS] account [, ...]`.
    DropUser {
        if_exists: bool,
        users: Vec<Account>,
    },
    /// `GRANT ALL [PRIVILEGES] ON ... TO account [, ...] [WITH GRANT OPTION]`.
    GrantAll { users: Vec<Account> },
    /// `SHOW GRANTS [FOR account]`.
    ShowGrants { user: Option<Account> },
    /// `SET PASSWORD [FOR account] = 'pw'`.
    SetPassword {
        user: Option<Account>,
        password: String,
    },
}

/// An account named in a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Account {
    /// `'name'@'host'` (`'name'` alone means host `%`).
    Named { name: String, host: String },
    /// `CURRENT_USER` or `CURRENT_USER()`.
    Current,
}

enum Tok {
    Word(String),
    Quoted(String),
    Other(String),
}

fn tokens(sql: &str) -> Option<Vec<Tok>> {
    let dialect = MySqlDialect {};
    let raw = Tokenizer::new(&dialect, sql).tokenize().ok()?;
    let mut out: Vec<Tok> = raw
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::Word(w) if w.quote_style.is_none() => Tok::Word(w.value),
            Token::Word(w) => Tok::Quoted(w.value),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => Tok::Quoted(s),
            other => Tok::Other(other.to_string()),
        })
        .collect();
    while matches!(out.last(), Some(Tok::Other(s)) if s == ";") {
        out.pop();
    }
    Some(out)
}

struct Cursor {
    toks: Vec<Tok>,
    at: usize,
}

impl Cursor {
    fn keyword(&mut self, kw: &str) -> bool {
        let hit =
            matches!(self.toks.get(self.at), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw));
        self.at += hit as usize;
        hit
    }

    fn symbol(&mut self, s: &str) -> bool {
        let hit = matches!(self.toks.get(self.at), Some(Tok::Other(o)) if o == s);
        self.at += hit as usize;
        hit
    }

    /// An identifier, quoted or not (names that happen to be keywords included).
    fn name(&mut self) -> Option<String> {
        let n = match self.toks.get(self.at)? {
            Tok::Quoted(s) => s.clone(),
            Tok::Word(w) => w.clone(),
            Tok::Other(_) => return None,
        };
        self.at += 1;
        Some(n)
    }

    /// `name` or `db.name`.
    fn qualified(&mut self) -> Option<(Option<String>, String)> {
        let first = self.name()?;
        if self.symbol(".") {
            Some((Some(first), self.name()?))
        } else {
            Some((None, first))
        }
    }

    fn string(&mut self) -> Option<String> {
        match self.toks.get(self.at)? {
            Tok::Quoted(s) => {
                let s = s.clone();
                self.at += 1;
                Some(s)
            }
            _ => None,
        }
    }

    fn done(&self) -> bool {
        self.at == self.toks.len()
    }

    /// `'name'[@'host']` or `CURRENT_USER[()]`.
    fn account(&mut self) -> Option<Account> {
        if self.keyword("CURRENT_USER") {
            if self.symbol("(") && !self.symbol(")") {
                return None;
            }
            return Some(Account::Current);
        }
        let bare = matches!(self.toks.get(self.at), Some(Tok::Word(_)));
        let name = self.name()?;
        // The tokenizer reads an unquoted `name@host` as one word, and `name@'host'` as the
        // word `name@` and a string.
        if let Some((name, host)) = name.split_once('@').filter(|_| bare) {
            let host = if host.is_empty() {
                self.name()?
            } else {
                host.to_string()
            };
            return Some(Account::Named {
                name: name.into(),
                host,
            });
        }
        // It reads `@'host'` as `@` and a string, or as one `@host` word.
        let host = if self.symbol("@") {
            self.name()?
        } else if let Some(Tok::Word(w)) = self.toks.get(self.at) {
            match w.strip_prefix('@') {
                Some(h) => {
                    let h = h.trim_matches(['\'', '`', '"']).to_string();
                    self.at += 1;
                    h
                }
                None => "%".into(),
            }
        } else {
            "%".into()
        };
        Some(Account::Named { name, host })
    }

    /// `account [IDENTIFIED [WITH mysql_native_password] BY 'pw'] [, ...]`.
    fn accounts_with_passwords(&mut self) -> Option<Vec<(Account, Option<String>)>> {
        let mut out = Vec::new();
        loop {
            let a = self.account()?;
            let pw = if self.keyword("IDENTIFIED") {
                if self.keyword("WITH") {
                    let plugin = self.name()?;
                    if !plugin.eq_ignore_ascii_case("mysql_native_password") {
                        return None;
                    }
                }
                if !self.keyword("BY") {
                    return None;
                }
                Some(self.string()?)
            } else {
                None
            };
            out.push((a, pw));
            if !self.symbol(",") {
                return Some(out);
            }
        }
    }

    fn if_exists(&mut self) -> Option<bool> {
        if self.keyword("IF") {
            return self.keyword("EXISTS").then_some(true);
        }
        Some(false)
    }

    /// `[{FROM|IN} db] [LIKE 'pattern']`.
    fn db_and_like(&mut self) -> Option<(Option<String>, Option<String>)> {
        let db = if self.keyword("FROM") || self.keyword("IN") {
            Some(self.name()?)
        } else {
            None
        };
        let like = if self.keyword("LIKE") {
            Some(self.string()?)
        } else {
            None
        };
        Some((db, like))
    }
}

/// Recognises `sql` as one of the statements above.
pub(crate) fn parse(sql: &str) -> Option<MysqlOnly> {
    let mut c = Cursor {
        toks: tokens(sql)?,
        at: 0,
    };
    let out = if c.keyword("SHOW") {
        if c.keyword("WARNINGS") {
            MysqlOnly::Diagnostics {
                errors: false,
                count: false,
            }
        } else if c.keyword("ERRORS") {
            MysqlOnly::Diagnostics {
                errors: true,
                count: false,
            }
        } else if c.keyword("COUNT") {
            let star = c.symbol("(") && c.symbol("*") && c.symbol(")");
            let errors = if c.keyword("WARNINGS") {
                false
            } else if c.keyword("ERRORS") {
                true
            } else {
                return None;
            };
            if !star {
                return None;
            }
            MysqlOnly::Diagnostics {
                errors,
                count: true,
            }
        } else if c.keyword("TABLE") {
            if !c.keyword("STATUS") {
                return None;
            }
            let (db, like) = c.db_and_like()?;
            MysqlOnly::TableStatus { db, like }
        } else if c.keyword("GRANTS") {
            let user = if c.keyword("FOR") {
                Some(c.account()?)
            } else {
                None
            };
            MysqlOnly::ShowGrants { user }
        } else if c.keyword("TRIGGERS") {
            let (db, like) = c.db_and_like()?;
            MysqlOnly::Triggers { db, like }
        } else if c.keyword("INDEX") || c.keyword("INDEXES") || c.keyword("KEYS") {
            if !(c.keyword("FROM") || c.keyword("IN")) {
                return None;
            }
            let (mut db, table) = c.qualified()?;
            if c.keyword("FROM") || c.keyword("IN") {
                db = Some(c.name()?);
            }
            MysqlOnly::Index { db, table }
        } else {
            return None;
        }
    } else if c.keyword("START") {
        if !(c.keyword("TRANSACTION")
            && c.keyword("WITH")
            && c.keyword("CONSISTENT")
            && c.keyword("SNAPSHOT"))
        {
            return None;
        }
        let mut read_only = false;
        if c.symbol(",") {
            if !c.keyword("READ") {
                return None;
            }
            read_only = if c.keyword("ONLY") {
                true
            } else if c.keyword("WRITE") {
                false
            } else {
                return None;
            };
        }
        MysqlOnly::StartConsistent { read_only }
    } else if c.keyword("ALTER") {
        if c.keyword("SYSTEM") {
            if !(c.keyword("MAJOR") && c.keyword("FREEZE")) {
                return None;
            }
            MysqlOnly::MajorFreeze
        } else if c.keyword("USER") {
            let if_exists = c.if_exists()?;
            let users = c.accounts_with_passwords()?;
            MysqlOnly::AlterUser { if_exists, users }
        } else {
            if !c.keyword("TABLE") {
                return None;
            }
            let (db, table) = c.qualified()?;
            if !(c.keyword("DISABLE") || c.keyword("ENABLE")) || !c.keyword("KEYS") {
                return None;
            }
            MysqlOnly::ToggleKeys { db, table }
        }
    } else if c.keyword("CREATE") {
        if !c.keyword("USER") {
            return None;
        }
        let if_not_exists = if c.keyword("IF") {
            if !(c.keyword("NOT") && c.keyword("EXISTS")) {
                return None;
            }
            true
        } else {
            false
        };
        let users = c.accounts_with_passwords()?;
        MysqlOnly::CreateUser {
            if_not_exists,
            users,
        }
    } else if c.keyword("DROP") {
        if !c.keyword("USER") {
            return None;
        }
        let if_exists = c.if_exists()?;
        let mut users = vec![c.account()?];
        while c.symbol(",") {
            users.push(c.account()?);
        }
        MysqlOnly::DropUser { if_exists, users }
    } else if c.keyword("GRANT") {
        if !c.keyword("ALL") {
            return None;
        }
        c.keyword("PRIVILEGES");
        if !c.keyword("ON") {
            return None;
        }
        // The object (`*.*`, `db.*`, `db.t`): every account holds everything anyway.
        while !c.done() && !c.keyword("TO") {
            c.at += 1;
        }
        let mut users = vec![c.account()?];
        while c.symbol(",") {
            users.push(c.account()?);
        }
        if c.keyword("WITH") && !(c.keyword("GRANT") && c.keyword("OPTION")) {
            return None;
        }
        MysqlOnly::GrantAll { users }
    } else if c.keyword("SET") {
        if !c.keyword("PASSWORD") {
            return None;
        }
        let user = if c.keyword("FOR") {
            Some(c.account()?)
        } else {
            None
        };
        if !c.symbol("=") {
            return None;
        }
        let password = c.string()?;
        MysqlOnly::SetPassword { user, password }
    } else {
        return None;
    };
    c.done().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_what_clients_and_mysqldump_send() {
        assert_eq!(
            parse("SHOW WARNINGS"),
            Some(MysqlOnly::Diagnostics {
                errors: false,
                count: false
            })
        );
        assert_eq!(
            parse("show count(*) errors;"),
            Some(MysqlOnly::Diagnostics {
                errors: true,
                count: true
            })
        );
        assert_eq!(
            parse("show table status like 't\\_1'"),
            Some(MysqlOnly::TableStatus {
                db: None,
                like: Some("t\\_1".into())
            })
        );
        assert_eq!(
            parse("SHOW TRIGGERS FROM `d` LIKE 't'"),
            Some(MysqlOnly::Triggers {
                db: Some("d".into()),
                like: Some("t".into())
            })
        );
        assert_eq!(
            parse("SHOW KEYS IN `order` FROM Shop"),
            Some(MysqlOnly::Index {
                db: Some("Shop".into()),
                table: "order".into()
            })
        );
        assert_eq!(
            parse("/*!40000 ALTER TABLE `d`.`t` DISABLE KEYS */"),
            Some(MysqlOnly::ToggleKeys {
                db: Some("d".into()),
                table: "t".into()
            })
        );
        assert_eq!(
            parse("START TRANSACTION /*!40100 WITH CONSISTENT SNAPSHOT */"),
            Some(MysqlOnly::StartConsistent { read_only: false })
        );
        assert_eq!(
            parse("start transaction with consistent snapshot, read only"),
            Some(MysqlOnly::StartConsistent { read_only: true })
        );
        assert_eq!(
            parse("alter system major freeze"),
            Some(MysqlOnly::MajorFreeze)
        );
        assert_eq!(parse("ALTER SYSTEM MINOR FREEZE"), None);
        let bob = |host: &str| Account::Named {
            name: "bob".into(),
            host: host.into(),
        };
        assert_eq!(
            parse("CREATE USER 'bob'@'%' IDENTIFIED BY 'pw', `bob`@localhost"),
            Some(MysqlOnly::CreateUser {
                if_not_exists: false,
                users: vec![(bob("%"), Some("pw".into())), (bob("localhost"), None)]
            })
        );
        assert_eq!(
            parse("create user if not exists bob identified with mysql_native_password by 'x'"),
            Some(MysqlOnly::CreateUser {
                if_not_exists: true,
                users: vec![(bob("%"), Some("x".into()))]
            })
        );
        assert_eq!(
            parse("ALTER USER IF EXISTS 'bob'@'10.0.%' IDENTIFIED BY ''"),
            Some(MysqlOnly::AlterUser {
                if_exists: true,
                users: vec![(bob("10.0.%"), Some(String::new()))]
            })
        );
        assert_eq!(
            parse("DROP USER 'bob'@'%', bob@'localhost', bob@localhost"),
            Some(MysqlOnly::DropUser {
                if_exists: false,
                users: vec![bob("%"), bob("localhost"), bob("localhost")]
            })
        );
        assert_eq!(
            parse("SET PASSWORD FOR CURRENT_USER() = 'n'"),
            Some(MysqlOnly::SetPassword {
                user: Some(Account::Current),
                password: "n".into()
            })
        );
        assert_eq!(
            parse("CREATE USER bob IDENTIFIED WITH caching_sha2_password BY 'x'"),
            None
        );
        assert_eq!(
            parse("GRANT ALL PRIVILEGES ON shop.* TO 'bob'@'%' WITH GRANT OPTION"),
            Some(MysqlOnly::GrantAll {
                users: vec![bob("%")]
            })
        );
        assert_eq!(parse("GRANT SELECT ON *.* TO bob"), None);
        assert_eq!(
            parse("SHOW GRANTS"),
            Some(MysqlOnly::ShowGrants { user: None })
        );
        assert_eq!(parse("SHOW WARNINGS LIMIT"), None);
        assert_eq!(parse("ALTER TABLE t DISABLE TRIGGER x"), None);
        assert_eq!(parse("SHOW INDEX t"), None);
        assert_eq!(parse("'unterminated"), None);
    }
}
