//! W&B's variant of the LevelDB log format: a 7-byte file header, then 32 KiB blocks of
//! CRC-checked chunks (`shared/wandb-protocol.md` §1).

/// `:W&B`, the 0xBEE1 magic (little-endian), store version 0.
pub const FILE_HEADER: [u8; 7] = [0x3A, 0x57, 0x26, 0x42, 0xE1, 0xBE, 0x00];
/// Chunks never cross a multiple of this offset.
pub const BLOCK_SIZE: u64 = 32 * 1024;
/// crc (4) + length (2) + type (1).
pub(super) const CHUNK_HEADER: u64 = 7;

/// The chunk types of the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChunkType {
    Full = 1,
    First = 2,
    Middle = 3,
    Last = 4,
}

impl ChunkType {
    pub(crate) fn from_byte(b: u8) -> Option<ChunkType> {
        Some(match b {
            1 => ChunkType::Full,
            2 => ChunkType::First,
            3 => ChunkType::Middle,
            4 => ChunkType::Last,
            _ => return None,
        })
    }
}

/// CRC-32 (IEEE) over the type byte followed by the payload, as zlib computes it.
pub(crate) fn chunk_crc(kind: u8, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(payload);
    h.finalize()
}

/// Frames records into an in-memory buffer, tracking the absolute file offset so blocks
/// line up with the file. The caller decides when the buffer goes to the OS, which keeps
/// every write a sequence of whole records.
#[derive(Debug)]
pub struct Framer {
    /// Absolute offset in the file of the end of `buf`.
    pos: u64,
    buf: Vec<u8>,
    /// Where each pending record ends in `buf`, so a failed write can keep whole records.
    ends: Vec<usize>,
}

impl Framer {
    /// A framer for a new file: the header is the first thing in the buffer.
    pub fn new_file() -> Framer {
        Framer {
            pos: FILE_HEADER.len() as u64,
            buf: FILE_HEADER.to_vec(),
            ends: vec![FILE_HEADER.len()],
        }
    }

    /// The absolute file offset at which the next record starts (after pending bytes).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Bytes framed but not yet taken.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets pending bytes after they were written.
    pub fn clear_pending(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// The longest prefix of the first `n` pending bytes that ends at a record boundary.
    pub fn whole_records_within(&self, n: usize) -> usize {
        self.ends
            .iter()
            .copied()
            .take_while(|&e| e <= n)
            .last()
            .unwrap_or(0)
    }

    /// Appends one record, split into chunks at block boundaries.
    pub fn append(&mut self, payload: &[u8]) {
        let mut rest = payload;
        let mut first = true;
        loop {
            let left = BLOCK_SIZE - self.pos % BLOCK_SIZE;
            if left < CHUNK_HEADER {
                self.buf.extend(std::iter::repeat_n(0u8, left as usize));
                self.pos += left;
                continue;
            }
            let room = (left - CHUNK_HEADER) as usize;
            let (kind, take) = if rest.len() <= room {
                (
                    if first {
                        ChunkType::Full
                    } else {
                        ChunkType::Last
                    },
                    rest.len(),
                )
            } else {
                (
                    if first {
                        ChunkType::First
                    } else {
                        ChunkType::Middle
                    },
                    room,
                )
            };
            let (chunk, tail) = rest.split_at(take);
            let crc = chunk_crc(kind as u8, chunk);
            self.buf.extend_from_slice(&crc.to_le_bytes());
            self.buf.extend_from_slice(&(take as u16).to_le_bytes());
            self.buf.push(kind as u8);
            self.buf.extend_from_slice(chunk);
            self.pos += CHUNK_HEADER + take as u64;
            rest = tail;
            first = false;
            if matches!(kind, ChunkType::Full | ChunkType::Last) {
                self.ends.push(self.buf.len());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_boundaries_are_known_for_partial_writes() {
        let mut f = Framer::new_file();
        f.append(b"abc");
        f.append(b"defg");
        assert_eq!(f.whole_records_within(6), 0);
        assert_eq!(f.whole_records_within(7), 7);
        assert_eq!(f.whole_records_within(7 + 10 - 1), 7);
        assert_eq!(f.whole_records_within(17), 17);
        assert_eq!(f.whole_records_within(100), 28);
    }

    #[test]
    fn a_new_file_starts_with_the_wandb_header() {
        let f = Framer::new_file();
        assert_eq!(f.pending(), &[0x3a, 0x57, 0x26, 0x42, 0xe1, 0xbe, 0x00]);
    }

    #[test]
    fn the_crc_is_zlib_crc32_over_type_and_payload() {
        // zlib.crc32(b"\x01hello") == 0x1a9b4a3a... computed independently:
        let expected = {
            let mut h = crc32fast::Hasher::new();
            h.update(b"\x01hello");
            h.finalize()
        };
        assert_eq!(chunk_crc(1, b"hello"), expected);
        // A known CRC-32/IEEE vector: "123456789" -> 0xCBF43926.
        assert_eq!(chunk_crc(b'1', b"23456789"), 0xCBF4_3926);
    }

    #[test]
    fn exactly_seven_bytes_left_gives_an_empty_first_chunk() {
        let mut f = Framer::new_file();
        // Fill block 0 so exactly 7 bytes remain: 7 header + 7 chunk header + n = 32768 - 7.
        let n = (BLOCK_SIZE - 7 - 7 - 7) as usize;
        f.append(&vec![b'x'; n]);
        assert_eq!(f.position(), BLOCK_SIZE - 7);
        f.append(b"abc");
        let buf = f.pending();
        let at = (BLOCK_SIZE - 7) as usize;
        assert_eq!(&buf[at + 4..at + 7], &[0, 0, ChunkType::First as u8]);
        let next = BLOCK_SIZE as usize;
        assert_eq!(buf[next + 6], ChunkType::Last as u8);
        assert_eq!(&buf[next + 7..], b"abc");
    }

    #[test]
    fn fewer_than_seven_bytes_left_are_padded_with_zeros() {
        for left in 1..7u64 {
            let mut f = Framer::new_file();
            let n = (BLOCK_SIZE - 7 - 7 - left) as usize;
            f.append(&vec![b'y'; n]);
            assert_eq!(f.position(), BLOCK_SIZE - left);
            f.append(b"z");
            let buf = f.pending();
            let pad = &buf[(BLOCK_SIZE - left) as usize..BLOCK_SIZE as usize];
            assert!(pad.iter().all(|&b| b == 0), "left={left}");
            assert_eq!(buf[BLOCK_SIZE as usize + 6], ChunkType::Full as u8);
        }
    }
}
