//! Packet framing and the protocol's integer and string encodings.
//!
//! A packet is `[length u24][sequence u8][payload]`; a payload of 2^24-1 bytes or more is
//! split, and a shorter packet ends it. [`PacketReader`] reads exactly one logical packet at
//! a time from a buffered stream, so commands a client writes back to back (pipelining) are
//! read one after the other and never confused.

use std::io::{self, BufRead, BufReader, Read, Write};

/// The largest packet a client may send (`max_allowed_packet`, 64 MiB as MySQL 8's default).
pub const MAX_ALLOWED_PACKET: usize = 64 << 20;
const CHUNK: usize = 0xFF_FFFF;

/// Reads packets from a stream.
#[derive(Debug)]
pub struct PacketReader<R> {
    inner: BufReader<R>,
}

impl<R: Read> PacketReader<R> {
    /// Wraps a stream.
    pub fn new(r: R) -> PacketReader<R> {
        PacketReader {
            inner: BufReader::with_capacity(64 << 10, r),
        }
    }

    /// The next packet's sequence number and payload; `None` at a clean end of stream.
    pub fn read_packet(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        if self.inner.fill_buf()?.is_empty() {
            return Ok(None);
        }
        let mut payload = Vec::new();
        loop {
            let mut header = [0u8; 4];
            self.inner.read_exact(&mut header)?;
            let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
            if payload.len() + len > MAX_ALLOWED_PACKET {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "packet exceeds max_allowed_packet",
                ));
            }
            let start = payload.len();
            payload.resize(start + len, 0);
            self.inner.read_exact(&mut payload[start..])?;
            if len < CHUNK {
                return Ok(Some((header[3], payload)));
            }
        }
    }
}

/// Writes packets into a buffer that is flushed once per response.
#[derive(Debug)]
pub struct PacketWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    seq: u8,
}

impl<W: Write> PacketWriter<W> {
    /// Wraps a stream.
    pub fn new(w: W) -> PacketWriter<W> {
        PacketWriter {
            inner: w,
            buf: Vec::with_capacity(16 << 10),
            seq: 0,
        }
    }

    /// Sets the sequence number of the next packet.
    pub fn set_seq(&mut self, seq: u8) {
        self.seq = seq;
    }

    /// Appends one packet (split if large).
    pub fn packet(&mut self, payload: &[u8]) {
        let mut rest = payload;
        loop {
            let n = rest.len().min(CHUNK);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
            self.buf.push(self.seq);
            self.seq = self.seq.wrapping_add(1);
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if n < CHUNK {
                return;
            }
        }
    }

    /// Sends what has been buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.inner.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.inner.flush()
    }

    /// Bytes buffered (to flush early on large results).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=250 => out.push(v as u8),
        251..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_lenenc(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over a received payload; every read checks bounds.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn short() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "packet too short")
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }
    /// Bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(short)?;
        let s = self.buf.get(self.pos..end).ok_or_else(short)?;
        self.pos = end;
        Ok(s)
    }
    /// One byte.
    pub fn u8(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// A little-endian u16.
    pub fn u16(&mut self) -> io::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    /// A little-endian u32.
    pub fn u32(&mut self) -> io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    /// A little-endian u64.
    pub fn u64(&mut self) -> io::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    /// A length-encoded integer.
    pub fn lenenc(&mut self) -> io::Result<u64> {
        Ok(match self.u8()? {
            0xFC => self.u16()? as u64,
            0xFD => u32::from_le_bytes([self.u8()?, self.u8()?, self.u8()?, 0]) as u64,
            0xFE => self.u64()?,
            b => b as u64,
        })
    }
    /// A length-encoded string.
    pub fn lenenc_bytes(&mut self) -> io::Result<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).map_err(|_| short())?;
        self.take(n)
    }
    /// A NUL-terminated string.
    pub fn nul_str(&mut self) -> io::Result<&'a [u8]> {
        let rest = &self.buf[self.pos..];
        let end = rest.iter().position(|&b| b == 0).ok_or_else(short)?;
        self.pos += end + 1;
        Ok(&rest[..end])
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let r = &self.buf[self.pos..];
        self.pos = self.buf.len();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trips_at_every_boundary() {
        for v in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_lenenc(&mut out, v);
            assert_eq!(Cursor::new(&out).lenenc().unwrap(), v);
        }
    }

    #[test]
    fn large_payloads_split_and_join_and_back_to_back_packets_stay_apart() {
        let big = vec![7u8; CHUNK + 10];
        let mut w = PacketWriter::new(Vec::new());
        w.packet(&big);
        w.packet(b"second");
        w.packet(&vec![1u8; CHUNK]);
        w.flush().unwrap();
        let mut r = PacketReader::new(&w.inner[..]);
        let (s0, p0) = r.read_packet().unwrap().unwrap();
        assert_eq!(
            (s0, p0.len()),
            (1, CHUNK + 10),
            "the last chunk's sequence number"
        );
        assert_eq!(r.read_packet().unwrap().unwrap(), (2, b"second".to_vec()));
        let (_, p2) = r.read_packet().unwrap().unwrap();
        assert_eq!(
            p2.len(),
            CHUNK,
            "an exact multiple is ended by an empty packet"
        );
        assert!(r.read_packet().unwrap().is_none());
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut r = PacketReader::new(&[5u8, 0, 0, 0, b'a'][..]);
        assert!(r.read_packet().is_err());
        let mut c = Cursor::new(&[0xFC, 1]);
        assert!(c.lenenc().is_err());
    }
}
