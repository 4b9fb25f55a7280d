//! The side buffers of a streaming parser: where a control line or a payload that spans reads
//! is stitched together once, handed out as a slice, and reclaimed on the next call. Shared by
//! the client and route protocol parsers.

/// Stitching space for one connection's parser.
#[derive(Debug, Default)]
pub struct Side {
    /// Stitched control-line bytes when a line spans reads.
    pub arg: Vec<u8>,
    /// Whether `arg` holds the current line.
    pub arg_split: bool,
    /// Stitched payload when a message spans reads.
    pub payload: Vec<u8>,
    /// The buffers were handed out by the last call; reclaim them at the start of the next.
    pub release: bool,
}

/// A stitched payload larger than this is given back to the allocator once used.
const KEEP_PAYLOAD: usize = 64 * 1024;

impl Side {
    /// Clear what the previous call handed out (keeping modest capacity for the next split).
    pub fn reclaim(&mut self) {
        if !self.release {
            return;
        }
        self.release = false;
        self.arg.clear();
        self.arg_split = false;
        if self.payload.capacity() > KEEP_PAYLOAD {
            self.payload = Vec::new();
        } else {
            self.payload.clear();
        }
    }

    /// Bytes held (for memory accounting and tests).
    pub fn held_bytes(&self) -> usize {
        self.arg.capacity() + self.payload.capacity()
    }
}
