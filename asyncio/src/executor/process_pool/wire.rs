//! The pipe protocol between a pool and its worker processes.
//!
//! One Unix stream socket per worker (the worker's standard input, so its
//! standard output and error stay the terminal's). Every message is a frame:
//! a 4-byte little-endian length, then the message in postcard, serde's
//! compact binary format. Arguments and results are postcard inside the
//! message, encoded by the submitting thread and decoded by the handle's
//! owner, so the pipe never needs to know their types.
//!
//! ```text
//! worker -> pool   Hello { pid, version }          once, at start
//! pool -> worker   Run { name, arg }               one job at a time
//! worker -> pool   Done(result) | Panicked(msg) | Wire(why) | Unknown(name)
//! pool -> worker   Exit                            (or the socket closes)
//! ```

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// Bumped when the messages change; a worker from another build refuses.
pub(crate) const VERSION: u32 = 1;

/// Frames larger than this are refused (a corrupt length, not a real job).
const MAX_FRAME: usize = 1 << 30;

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request<'a> {
    Run {
        name: &'a str,
        #[serde(with = "serde_bytes_slice")]
        arg: &'a [u8],
    },
    Exit,
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    Hello { pid: u32, version: u32 },
    Done(Vec<u8>),
    Panicked(String),
    Wire(String),
    Unknown(String),
}

/// Borrowed byte slices as one length-prefixed run (postcard's encoding of
/// `&[u8]` is already that; this only lets serde borrow it back).
mod serde_bytes_slice {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<&'de [u8], D::Error> {
        <&'de [u8]>::deserialize(d)
    }
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Encodes `msg` as one frame into `buf` (replacing its contents).
pub(crate) fn encode<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut frame = std::mem::take(buf);
    frame.clear();
    frame.extend_from_slice(&[0; 4]);
    let mut frame = postcard::to_extend(msg, frame).map_err(invalid)?;
    let len = u32::try_from(frame.len() - 4).map_err(|_| invalid("frame over 4 GiB"))?;
    frame[..4].copy_from_slice(&len.to_le_bytes());
    *buf = frame;
    Ok(())
}

/// Writes `msg` as one frame, using `buf` as scratch.
pub(crate) fn send<T: Serialize>(w: &mut impl Write, msg: &T, buf: &mut Vec<u8>) -> io::Result<()> {
    encode(msg, buf)?;
    w.write_all(buf)
}

/// Reads one frame into `buf`. End of stream before a whole frame is
/// `UnexpectedEof`. The buffer grows as the bytes arrive, not by the length
/// the frame claims: a corrupt length costs no more memory than the bytes
/// that came.
pub(crate) fn recv_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut len = [0; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(invalid(format!("frame of {len} bytes")));
    }
    buf.clear();
    buf.reserve(len.min(1 << 16));
    let got = r.take(len as u64).read_to_end(buf)?;
    if got < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Fuzzing: a byte stream as a pool or a worker reads it, frame by frame;
/// each frame decodes as either side's message or is refused, and what
/// decodes encodes back to a frame that decodes the same.
#[cfg(fuzzing)]
pub(crate) fn fuzz_stream(mut data: &[u8]) {
    let mut buf = Vec::new();
    while recv_frame(&mut data, &mut buf).is_ok() {
        if let Ok(req) = decode::<Request<'_>>(&buf) {
            let mut again = Vec::new();
            encode(&req, &mut again).expect("encodes");
            let back: Request<'_> = decode(&again[4..]).expect("decodes back");
            assert_eq!(format!("{req:?}"), format!("{back:?}"));
        }
        if let Ok(reply) = decode::<Reply>(&buf) {
            let mut again = Vec::new();
            encode(&reply, &mut again).expect("encodes");
            let back: Reply = decode(&again[4..]).expect("decodes back");
            assert_eq!(format!("{reply:?}"), format!("{back:?}"));
        }
    }
}

/// Decodes a frame read by [`recv_frame`].
pub(crate) fn decode<'a, T: Deserialize<'a>>(frame: &'a [u8]) -> io::Result<T> {
    postcard::from_bytes(frame).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = Vec::new();
        let mut pipe = Vec::new();
        send(
            &mut pipe,
            &Request::Run {
                name: "f",
                arg: &[1, 2, 3],
            },
            &mut buf,
        )
        .unwrap();
        send(&mut pipe, &Request::Exit, &mut buf).unwrap();
        let mut r = &pipe[..];
        recv_frame(&mut r, &mut buf).unwrap();
        match decode::<Request<'_>>(&buf).unwrap() {
            Request::Run { name, arg } => assert_eq!((name, arg), ("f", &[1u8, 2, 3][..])),
            Request::Exit => panic!("wrong message"),
        }
        recv_frame(&mut r, &mut buf).unwrap();
        assert!(matches!(decode::<Request<'_>>(&buf).unwrap(), Request::Exit));
        assert_eq!(
            recv_frame(&mut r, &mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn corrupt_length_is_refused() {
        let mut r = &[0xff, 0xff, 0xff, 0xff][..];
        let err = recv_frame(&mut r, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_length_the_bytes_do_not_back_costs_only_the_bytes() {
        // Claims 512 MiB (under the limit), brings 3 bytes.
        let mut r = &[0, 0, 0, 0x20, 1, 2, 3][..];
        let mut buf = Vec::new();
        let err = recv_frame(&mut r, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(buf.capacity() <= 1 << 16, "{}", buf.capacity());
    }
}
