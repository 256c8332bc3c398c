//! MLLP framing: each message is sent as `0x0B` message `0x1C 0x0D`.
//!
//! A `tokio_util::codec` decoder and encoder, written here because the one
//! published MLLP codec crate (`hl7-mllp-codec`) has no bound on a frame's
//! size, which a feed that never ends its frame would use to fill memory.
//! This one refuses a frame longer than its limit as soon as the limit is
//! passed, and refuses bytes outside a frame (other than line breaks some
//! engines send between frames).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Start of a frame.
pub const START: u8 = 0x0B;
/// End of a frame: `0x1C` then `0x0D`.
pub const END: [u8; 2] = [0x1C, 0x0D];

/// Why a connection's bytes cannot be framed. The connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame longer than the limit.
    #[error("a message is longer than {0} bytes")]
    TooLong(usize),
    /// Bytes that are not inside a frame.
    #[error("bytes outside an MLLP frame (expected 0x0B)")]
    OutsideFrame,
    /// The connection ended in the middle of a frame.
    #[error("the connection closed in the middle of a message")]
    Truncated,
    /// Reading or writing failed.
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
}

/// Frames HL7 messages on a byte stream.
#[derive(Debug, Clone)]
pub struct MllpCodec {
    max_len: usize,
    /// How far the current buffer was already searched for the end.
    searched: usize,
}

impl MllpCodec {
    /// A codec refusing messages longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            searched: 0,
        }
    }
}

impl Decoder for MllpCodec {
    type Item = Bytes;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        // Line breaks and spaces between frames are tolerated.
        while let Some(&first) = src.first() {
            match first {
                START => break,
                b'\r' | b'\n' | b' ' | b'\t' => src.advance(1),
                _ => return Err(FrameError::OutsideFrame),
            }
        }
        if src.is_empty() {
            return Ok(None);
        }
        let from = self.searched.max(1);
        let end = src[from..]
            .windows(2)
            .position(|w| w == END)
            .map(|p| p + from);
        match end {
            Some(end) => {
                let len = end - 1;
                if len > self.max_len {
                    return Err(FrameError::TooLong(self.max_len));
                }
                let mut frame = src.split_to(end + 2);
                frame.advance(1);
                frame.truncate(len);
                self.searched = 0;
                Ok(Some(frame.freeze()))
            }
            None => {
                // The body so far (without the start byte, and a possible
                // trailing 0x1C that may begin the end) must fit.
                let body = src.len() - 1;
                let pending_end = usize::from(src.last() == Some(&END[0]));
                if body - pending_end > self.max_len {
                    return Err(FrameError::TooLong(self.max_len));
                }
                self.searched = src.len().saturating_sub(1);
                src.reserve(1024);
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.iter().all(|b| b.is_ascii_whitespace()) => Ok(None),
            None => Err(FrameError::Truncated),
        }
    }
}

impl Encoder<Bytes> for MllpCodec {
    type Error = FrameError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(item.len() + 3);
        dst.put_u8(START);
        dst.put_slice(&item);
        dst.put_slice(&END);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(codec: &mut MllpCodec, bytes: &[u8]) -> Result<Vec<Bytes>, FrameError> {
        let mut buffer = BytesMut::from(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buffer)? {
            frames.push(frame);
        }
        Ok(frames)
    }

    #[test]
    fn frames_are_read_across_reads_and_back_to_back() {
        let mut codec = MllpCodec::new(100);
        let mut buffer = BytesMut::new();
        let wire = b"\x0bMSH|one\r\x1c\x0d\r\n\x0bMSH|two\x1c\x0d";
        let mut frames = Vec::new();
        for chunk in wire.chunks(3) {
            buffer.extend_from_slice(chunk);
            while let Some(frame) = codec.decode(&mut buffer).expect("valid") {
                frames.push(frame);
            }
        }
        assert_eq!(
            frames,
            vec![
                Bytes::from_static(b"MSH|one\r"),
                Bytes::from_static(b"MSH|two")
            ]
        );
    }

    #[test]
    fn a_frame_longer_than_the_limit_is_refused_before_it_ends() {
        let mut codec = MllpCodec::new(10);
        let mut buffer = BytesMut::from(&b"\x0b0123456789"[..]);
        assert!(codec.decode(&mut buffer).expect("fits so far").is_none());
        buffer.extend_from_slice(b"A");
        assert!(matches!(
            codec.decode(&mut buffer),
            Err(FrameError::TooLong(10))
        ));
        // Exactly the limit is fine.
        assert_eq!(
            decode_all(&mut MllpCodec::new(10), b"\x0b0123456789\x1c\x0d")
                .expect("fits")
                .len(),
            1
        );
    }

    #[test]
    fn garbage_and_truncation_are_refused() {
        assert!(matches!(
            decode_all(&mut MllpCodec::new(100), b"GET / HTTP/1.1\r\n"),
            Err(FrameError::OutsideFrame)
        ));
        let mut codec = MllpCodec::new(100);
        let mut buffer = BytesMut::from(&b"\x0bMSH|half"[..]);
        assert!(matches!(
            codec.decode_eof(&mut buffer),
            Err(FrameError::Truncated)
        ));
    }

    #[test]
    fn encoding_frames_a_message() {
        let mut buffer = BytesMut::new();
        MllpCodec::new(10)
            .encode(Bytes::from_static(b"ACK"), &mut buffer)
            .expect("encodes");
        assert_eq!(&buffer[..], b"\x0bACK\x1c\x0d");
    }

    proptest! {
        #[test]
        fn any_bytes_in_any_chunks_never_panic_or_exceed_the_limit(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            chunk in 1usize..50,
        ) {
            let mut codec = MllpCodec::new(64);
            let mut buffer = BytesMut::new();
            'outer: for part in bytes.chunks(chunk) {
                buffer.extend_from_slice(part);
                loop {
                    match codec.decode(&mut buffer) {
                        Ok(Some(frame)) => prop_assert!(frame.len() <= 64),
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
                prop_assert!(buffer.len() <= 64 + 3 + chunk);
            }
        }

        #[test]
        fn what_is_encoded_decodes_back(body in proptest::collection::vec(any::<u8>().prop_filter("no frame bytes", |b| *b != 0x1c && *b != 0x0b), 0..200)) {
            let mut wire = BytesMut::new();
            let mut codec = MllpCodec::new(1000);
            codec.encode(Bytes::from(body.clone()), &mut wire).expect("encodes");
            prop_assert_eq!(codec.decode(&mut wire).expect("valid"), Some(Bytes::from(body)));
        }
    }
}
