//! A tablet's manifest: which SSTables make up the tablet, its log checkpoint, and the next
//! file id. Replaced atomically (write new, fsync, rename, fsync directory), so after a crash
//! the tablet is exactly as the last completed dump or compaction left it; macroblock files
//! no manifest references are leftovers of an interrupted step and are deleted on open.

use std::path::Path;

use reef_common::ids::{LogIndex, Version};
use reef_common::rowcodec::{get_varint, put_varint};

use crate::error::{Result, StorageError};
use crate::fs::{write_file_atomic, FileSystem};
use crate::sstable::macroblock::MacroblockMeta;
use crate::sstable::table::{Level, SSTableMeta};

/// The manifest file's name in a tablet directory.
pub const MANIFEST_FILE: &str = "MANIFEST";
const FORMAT: u8 = 1;

/// A tablet's durable state outside the log.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Bumped by every change; part of row cache keys.
    pub generation: u64,
    /// Log entries at or below this index are reflected in the SSTables: replay starts above.
    pub checkpoint: LogIndex,
    /// Next id for macroblock files and SSTables.
    pub next_file_id: u64,
    /// Version the last major compaction dropped versions below (its GC horizon).
    pub major_horizon: Version,
    /// SSTables, newest first.
    pub tables: Vec<SSTableMeta>,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

impl Manifest {
    /// Row versions stored across its SSTables (a key in several SSTables counts in each).
    pub fn versions(&self) -> u64 {
        self.tables
            .iter()
            .flat_map(|t| &t.macroblocks)
            .map(|m| m.rows)
            .sum()
    }

    /// Serialized form: `[crc32c u32][format u8][body]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; 4];
        out.push(FORMAT);
        for v in [
            self.generation,
            self.checkpoint.0,
            self.next_file_id,
            self.major_horizon.0,
        ] {
            put_varint(&mut out, v);
        }
        put_varint(&mut out, self.tables.len() as u64);
        for t in &self.tables {
            put_varint(&mut out, t.id);
            out.push(match t.level {
                Level::Mini => 0,
                Level::Minor => 1,
                Level::Major => 2,
            });
            put_varint(&mut out, t.macroblocks.len() as u64);
            for m in &t.macroblocks {
                put_varint(&mut out, m.id);
                put_bytes(&mut out, &m.first_key);
                put_bytes(&mut out, &m.last_key);
                for v in [m.rows, m.min_version.0, m.max_version.0, m.size_bytes] {
                    put_varint(&mut out, v);
                }
                out.push(m.multi_version as u8 | (m.has_deletes as u8) << 1);
            }
        }
        let crc = crc32c::crc32c(&out[4..]);
        out[..4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses [`Manifest::encode`].
    pub fn decode(buf: &[u8]) -> std::result::Result<Manifest, String> {
        if buf.len() < 5 {
            return Err("manifest truncated".into());
        }
        let crc = u32::from_le_bytes(buf[..4].try_into().expect("4"));
        if crc32c::crc32c(&buf[4..]) != crc {
            return Err("manifest checksum mismatch".into());
        }
        if buf[4] != FORMAT {
            return Err(format!("unknown manifest format {}", buf[4]));
        }
        let mut pos = 5;
        let (generation, checkpoint, next_file_id, major_horizon, ntables) = {
            let mut v = || get_varint(buf, &mut pos).map_err(|e| e.to_string());
            (v()?, v()?, v()?, v()?, v()?)
        };
        let mut tables = Vec::new();
        let take = |pos: &mut usize, n: usize| -> std::result::Result<Vec<u8>, String> {
            let end = pos.checked_add(n).ok_or("overflow")?;
            let s = buf.get(*pos..end).ok_or("manifest truncated")?.to_vec();
            *pos = end;
            Ok(s)
        };
        for _ in 0..ntables {
            let id = get_varint(buf, &mut pos).map_err(|e| e.to_string())?;
            let level = match take(&mut pos, 1)?[0] {
                0 => Level::Mini,
                1 => Level::Minor,
                2 => Level::Major,
                l => return Err(format!("bad level {l}")),
            };
            let nmb = get_varint(buf, &mut pos).map_err(|e| e.to_string())?;
            let mut macroblocks = Vec::new();
            for _ in 0..nmb {
                let vi = |pos: &mut usize| get_varint(buf, pos).map_err(|e| e.to_string());
                let id = vi(&mut pos)?;
                let n = vi(&mut pos)? as usize;
                let first_key = take(&mut pos, n)?;
                let n = vi(&mut pos)? as usize;
                let last_key = take(&mut pos, n)?;
                let (rows, lo, hi, size) =
                    (vi(&mut pos)?, vi(&mut pos)?, vi(&mut pos)?, vi(&mut pos)?);
                let flags = take(&mut pos, 1)?[0];
                macroblocks.push(MacroblockMeta {
                    id,
                    first_key,
                    last_key,
                    rows,
                    min_version: Version(lo),
                    max_version: Version(hi),
                    multi_version: flags & 1 != 0,
                    has_deletes: flags & 2 != 0,
                    size_bytes: size,
                });
            }
            tables.push(SSTableMeta {
                id,
                level,
                macroblocks,
            });
        }
        if pos != buf.len() {
            return Err("trailing bytes in manifest".into());
        }
        Ok(Manifest {
            generation,
            checkpoint: LogIndex(checkpoint),
            next_file_id,
            major_horizon: Version(major_horizon),
            tables,
        })
    }

    /// Reads the manifest in `dir`; `None` if the tablet is new.
    pub fn load(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(MANIFEST_FILE);
        if !fs.exists(&path) {
            return Ok(None);
        }
        let f = fs
            .open_read(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        let len = f.size_bytes().map_err(|e| StorageError::io(&path, e))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, 0)
            .map_err(|e| StorageError::io(&path, e))?;
        Manifest::decode(&buf)
            .map(Some)
            .map_err(|what| StorageError::Corrupt {
                path,
                offset: 0,
                what,
            })
    }

    /// Makes this the tablet's manifest, atomically and durably.
    pub fn store(&self, fs: &dyn FileSystem, dir: &Path) -> Result<()> {
        write_file_atomic(fs, dir, MANIFEST_FILE, &self.encode())
    }

    /// Macroblock file ids referenced.
    pub fn live_files(&self) -> std::collections::HashSet<u64> {
        self.tables
            .iter()
            .flat_map(|t| t.macroblocks.iter().map(|m| m.id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let m = Manifest {
            generation: 3,
            checkpoint: LogIndex(99),
            next_file_id: 12,
            major_horizon: Version(40),
            tables: vec![SSTableMeta {
                id: 11,
                level: Level::Minor,
                macroblocks: vec![MacroblockMeta {
                    id: 10,
                    first_key: b"a".to_vec(),
                    last_key: b"z".to_vec(),
                    rows: 5,
                    min_version: Version(1),
                    max_version: Version(9),
                    multi_version: true,
                    has_deletes: false,
                    size_bytes: 777,
                }],
            }],
        };
        let mut bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        let last = bytes.len() - 3;
        bytes[last] ^= 1;
        assert!(Manifest::decode(&bytes).is_err());
    }
}
