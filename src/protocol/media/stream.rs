//! Streaming media encryption and decryption with constant memory.
//!
//! Both directions read fixed-size chunks (64 KiB), so a 100 MB video costs the same memory as a
//! thumbnail. Encryption is straightforward: CBC over whole blocks, PKCS#7 on the last, the MAC and
//! both hashes accumulated on the way.
//!
//! Decryption has a trade-off. The MAC is the last 10 bytes, so it can only be checked after the
//! whole file has been read. Buffering the whole file would defeat streaming, so the decryptor
//! writes plaintext as it goes and holds back only the final cipher block: the MAC is verified
//! before that block is decrypted and before the padding is looked at (no padding oracle), and on a
//! mismatch the final block is never written and an error is returned. Everything written before
//! that point is unauthenticated, so the destination must be a temporary file (or buffer) that the
//! caller discards when this returns an error and only moves into place on success.

use super::{MediaError, MediaKeys, MAC_LEN};
use crate::protocol::crypto;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ring::{digest, hmac};
use std::io::{ErrorKind, Read, Write};

const CHUNK: usize = 64 * 1024;
const BLOCK: usize = 16;

/// What a completed stream produced: the fields a media message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaDigest {
    /// SHA-256 of the plaintext.
    pub file_sha256: [u8; 32],
    /// SHA-256 of `ciphertext || mac`.
    pub file_enc_sha256: [u8; 32],
    /// Plaintext length in bytes.
    pub file_length: u64,
    /// Encrypted length in bytes (ciphertext plus MAC).
    pub enc_length: u64,
    /// The 10-byte MAC.
    pub mac: [u8; MAC_LEN],
}

fn digest32(ctx: digest::Context) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encrypts `reader` into `writer` (ciphertext then MAC) and returns the message fields.
pub fn encrypt_stream(
    keys: &MediaKeys,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<MediaDigest, MediaError> {
    let mut cipher =
        cbc::Encryptor::<aes::Aes256>::new((&keys.cipher_key).into(), (&keys.iv).into());
    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, &keys.mac_key);
    let mut mac = hmac::Context::with_key(&mac_key);
    mac.update(&keys.iv);
    let mut plain_hash = digest::Context::new(&digest::SHA256);
    let mut enc_hash = digest::Context::new(&digest::SHA256);
    let mut buf = vec![0u8; CHUNK + BLOCK];
    let mut carried = 0usize; // plaintext bytes kept from the previous chunk (< one block)
    let mut file_length = 0u64;
    let mut enc_length = 0u64;
    loop {
        let n = read_full(&mut reader, &mut buf[carried..carried + CHUNK])?;
        plain_hash.update(&buf[carried..carried + n]);
        file_length += n as u64;
        let available = carried + n;
        let last = n < CHUNK;
        let whole = if last {
            // PKCS#7: always 1..=16 bytes of padding, so the final length is a multiple of 16.
            let pad = BLOCK - available % BLOCK;
            buf[available..available + pad].fill(pad as u8);
            available + pad
        } else {
            available - available % BLOCK
        };
        for block in buf[..whole].chunks_exact_mut(BLOCK) {
            cipher.encrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        mac.update(&buf[..whole]);
        enc_hash.update(&buf[..whole]);
        writer.write_all(&buf[..whole])?;
        enc_length += whole as u64;
        if last {
            break;
        }
        buf.copy_within(whole..available, 0);
        carried = available - whole;
    }
    let mut tag = [0u8; MAC_LEN];
    tag.copy_from_slice(&mac.sign().as_ref()[..MAC_LEN]);
    enc_hash.update(&tag);
    writer.write_all(&tag)?;
    writer.flush()?;
    Ok(MediaDigest {
        file_sha256: digest32(plain_hash),
        file_enc_sha256: digest32(enc_hash),
        file_length,
        enc_length: enc_length + MAC_LEN as u64,
        mac: tag,
    })
}

/// Decrypts `reader` (ciphertext then MAC) into `writer`; see the module notes on what is written
/// before the MAC has been checked.
pub fn decrypt_stream(
    keys: &MediaKeys,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<MediaDigest, MediaError> {
    let mut cipher =
        cbc::Decryptor::<aes::Aes256>::new((&keys.cipher_key).into(), (&keys.iv).into());
    let mac_key = hmac::Key::new(hmac::HMAC_SHA256, &keys.mac_key);
    let mut mac = hmac::Context::with_key(&mac_key);
    mac.update(&keys.iv);
    let mut plain_hash = digest::Context::new(&digest::SHA256);
    let mut enc_hash = digest::Context::new(&digest::SHA256);
    // Always keep at least one block plus the MAC unprocessed: they may be the end of the file.
    const HOLD: usize = BLOCK + MAC_LEN;
    let mut buf = vec![0u8; CHUNK + HOLD + BLOCK];
    let mut held = 0usize;
    let mut file_length = 0u64;
    let mut enc_length = 0u64;
    loop {
        let n = read_full(&mut reader, &mut buf[held..held + CHUNK])?;
        enc_hash.update(&buf[held..held + n]);
        enc_length += n as u64;
        let available = held + n;
        if n < CHUNK {
            held = available;
            break;
        }
        let process = (available - HOLD) / BLOCK * BLOCK;
        mac.update(&buf[..process]);
        for block in buf[..process].chunks_exact_mut(BLOCK) {
            cipher.decrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        plain_hash.update(&buf[..process]);
        writer.write_all(&buf[..process])?;
        file_length += process as u64;
        buf.copy_within(process..available, 0);
        held = available - process;
    }
    // The tail: some whole blocks, then the MAC.
    if held < HOLD || !(held - MAC_LEN).is_multiple_of(BLOCK) {
        return Err(MediaError::BadLength(enc_length));
    }
    let (ciphertext, tag) = buf[..held].split_at_mut(held - MAC_LEN);
    mac.update(ciphertext);
    let expected = mac.sign();
    if !crypto::constant_time_eq(&expected.as_ref()[..MAC_LEN], tag) {
        return Err(MediaError::MacMismatch);
    }
    let mut mac_out = [0u8; MAC_LEN];
    mac_out.copy_from_slice(tag);
    for block in ciphertext.chunks_exact_mut(BLOCK) {
        cipher.decrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    let pad = usize::from(ciphertext[ciphertext.len() - 1]);
    let valid_padding = (1..=BLOCK).contains(&pad)
        && ciphertext[ciphertext.len() - pad..]
            .iter()
            .all(|b| usize::from(*b) == pad);
    if !valid_padding {
        return Err(MediaError::BadPadding);
    }
    let plain_tail = &ciphertext[..ciphertext.len() - pad];
    plain_hash.update(plain_tail);
    writer.write_all(plain_tail)?;
    writer.flush()?;
    file_length += plain_tail.len() as u64;
    Ok(MediaDigest {
        file_sha256: digest32(plain_hash),
        file_enc_sha256: digest32(enc_hash),
        file_length,
        enc_length,
        mac: mac_out,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decrypt, encrypt, MediaType};
    use super::*;
    use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

    /// A reader that yields `len` pattern bytes in short, uneven reads.
    struct Pattern {
        pos: u64,
        len: u64,
    }

    impl Read for Pattern {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = (self.len - self.pos).min(out.len() as u64).min(7777) as usize;
            for (i, b) in out[..n].iter_mut().enumerate() {
                *b = ((self.pos + i as u64) * 31 + 7) as u8;
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    /// Test double: a bounded in-process pipe, so encrypt and decrypt run concurrently.
    struct PipeWriter(SyncSender<Vec<u8>>);
    struct PipeReader {
        rx: Receiver<Vec<u8>>,
        current: Vec<u8>,
        at: usize,
    }

    impl Write for PipeWriter {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .send(data.to_vec())
                .map_err(|_| std::io::Error::from(ErrorKind::BrokenPipe))?;
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Read for PipeReader {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            while self.at == self.current.len() {
                match self.rx.recv() {
                    Ok(next) => {
                        self.current = next;
                        self.at = 0;
                    }
                    Err(_) => return Ok(0),
                }
            }
            let n = out.len().min(self.current.len() - self.at);
            out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Counts and hashes what is written, storing nothing.
    struct HashingSink(digest::Context, u64);
    impl Write for HashingSink {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.update(data);
            self.1 += data.len() as u64;
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stream_matches_whole_buffer_at_block_and_chunk_edges() {
        let keys = MediaKeys::derive(&[1u8; 32], MediaType::Document);
        for len in [0u64, 1, 15, 16, 17, 65_535, 65_536, 65_537, 65_536 * 2 + 5] {
            let plain: Vec<u8> = {
                let mut p = Vec::new();
                Pattern { pos: 0, len }.read_to_end(&mut p).unwrap();
                p
            };
            let whole = encrypt(&keys, &plain);
            let mut streamed = Vec::new();
            let digest = encrypt_stream(&keys, Pattern { pos: 0, len }, &mut streamed).unwrap();
            assert_eq!(streamed, whole.data, "len {len}");
            assert_eq!(digest.file_sha256, whole.file_sha256);
            assert_eq!(digest.file_enc_sha256, whole.file_enc_sha256);
            assert_eq!(digest.file_length, len);
            let mut back = Vec::new();
            let d2 = decrypt_stream(&keys, &streamed[..], &mut back).unwrap();
            assert_eq!(back, plain);
            assert_eq!(d2, digest);
            assert_eq!(decrypt(&keys, &streamed).unwrap(), plain);
        }
    }

    #[test]
    fn stream_rejects_tampering_without_releasing_the_last_block() {
        let keys = MediaKeys::derive(&[2u8; 32], MediaType::Video);
        let mut enc = Vec::new();
        encrypt_stream(
            &keys,
            Pattern {
                pos: 0,
                len: 200_000,
            },
            &mut enc,
        )
        .unwrap();
        let last = enc.len() - 1;
        enc[last] ^= 1;
        let mut out = Vec::new();
        assert!(matches!(
            decrypt_stream(&keys, &enc[..], &mut out),
            Err(MediaError::MacMismatch)
        ));
        assert!(out.len() < 200_000, "the final block must be held back");
        assert!(matches!(
            decrypt_stream(&keys, &enc[..enc.len() - 3], Vec::new()),
            Err(MediaError::BadLength(_))
        ));
        assert!(matches!(
            decrypt_stream(&keys, &enc[..5], Vec::new()),
            Err(MediaError::BadLength(5))
        ));
    }

    /// 100 MB through encrypt → pipe → decrypt with 64 KiB buffers: memory stays at a few chunks
    /// (the pipe holds at most 4 in flight) and the output hash equals the input hash.
    #[test]
    fn hundred_megabytes_stream_through_constant_memory() {
        const LEN: u64 = 100 * 1000 * 1000;
        let keys = MediaKeys::derive(&[3u8; 32], MediaType::Video);
        let (tx, rx) = sync_channel(4);
        let enc_keys = keys.clone();
        let producer = std::thread::spawn(move || {
            encrypt_stream(&enc_keys, Pattern { pos: 0, len: LEN }, PipeWriter(tx))
        });
        let reader = PipeReader {
            rx,
            current: Vec::new(),
            at: 0,
        };
        let mut sink = HashingSink(digest::Context::new(&digest::SHA256), 0);
        let decrypted = decrypt_stream(&keys, reader, &mut sink).unwrap();
        let encrypted = producer.join().unwrap().unwrap();
        assert_eq!(decrypted.file_length, LEN);
        assert_eq!(sink.1, LEN);
        assert_eq!(digest32(sink.0), encrypted.file_sha256);
        assert_eq!(decrypted, encrypted);
    }
}
