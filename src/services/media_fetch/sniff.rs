//! The file types Chattu sends by URL, recognised twice: by the URL's extension and by the
//! first bytes of the content ("magic numbers"). Both must name the same type, so a renamed
//! executable or an HTML error page served as `photo.jpg` is refused.

/// A file type accepted by URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Jpeg,
    Png,
    Gif,
    Webp,
    Pdf,
    Mp4,
    Mp3,
}

/// How WhatsApp presents a file: the message type it travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    /// The API's word for it (`mediaType`, the message `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }

    /// Parses the API's `mediaType` (`image`, `video`, `audio`, `document`; any case).
    pub fn parse(text: &str) -> Option<MediaKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            "document" => Some(MediaKind::Document),
            _ => None,
        }
    }
}

/// The extensions accepted, as the error message lists them.
pub const ACCEPTED_EXTENSIONS: &str = ".jpg .jpeg .png .gif .webp .pdf .mp4 .mp3";

impl FileType {
    /// The type a file name's extension names (case-insensitive), if it is one we accept.
    pub fn from_extension(ext: &str) -> Option<FileType> {
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(FileType::Jpeg),
            "png" => Some(FileType::Png),
            "gif" => Some(FileType::Gif),
            "webp" => Some(FileType::Webp),
            "pdf" => Some(FileType::Pdf),
            "mp4" => Some(FileType::Mp4),
            "mp3" => Some(FileType::Mp3),
            _ => None,
        }
    }

    /// The type the content's first bytes show, if it is one we accept.
    pub fn sniff(bytes: &[u8]) -> Option<FileType> {
        let at = |offset: usize, magic: &[u8]| {
            bytes
                .get(offset..offset + magic.len())
                .is_some_and(|b| b == magic)
        };
        if at(0, &[0xFF, 0xD8, 0xFF]) {
            Some(FileType::Jpeg)
        } else if at(0, b"\x89PNG\r\n\x1a\n") {
            Some(FileType::Png)
        } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
            Some(FileType::Gif)
        } else if at(0, b"RIFF") && at(8, b"WEBP") {
            Some(FileType::Webp)
        } else if at(0, b"%PDF-") {
            Some(FileType::Pdf)
        } else if at(4, b"ftyp") {
            // ISO base media: a size, then the `ftyp` box naming the brand (isom, mp42, ...).
            Some(FileType::Mp4)
        } else if at(0, b"ID3") || is_mpeg_layer3_frame(bytes) {
            Some(FileType::Mp3)
        } else {
            None
        }
    }

    pub fn mimetype(self) -> &'static str {
        match self {
            FileType::Jpeg => "image/jpeg",
            FileType::Png => "image/png",
            FileType::Gif => "image/gif",
            FileType::Webp => "image/webp",
            FileType::Pdf => "application/pdf",
            FileType::Mp4 => "video/mp4",
            FileType::Mp3 => "audio/mpeg",
        }
    }

    /// The usual extension, for naming a file whose URL path has no usable name.
    pub fn extension(self) -> &'static str {
        match self {
            FileType::Jpeg => "jpg",
            FileType::Png => "png",
            FileType::Gif => "gif",
            FileType::Webp => "webp",
            FileType::Pdf => "pdf",
            FileType::Mp4 => "mp4",
            FileType::Mp3 => "mp3",
        }
    }

    pub fn kind(self) -> MediaKind {
        match self {
            FileType::Jpeg | FileType::Png | FileType::Gif | FileType::Webp => MediaKind::Image,
            FileType::Pdf => MediaKind::Document,
            FileType::Mp4 => MediaKind::Video,
            FileType::Mp3 => MediaKind::Audio,
        }
    }
}

/// An MPEG audio frame header of layer III without an ID3 tag: 11 sync bits, then a version
/// that is not "reserved" and layer bits `01`.
fn is_mpeg_layer3_frame(bytes: &[u8]) -> bool {
    match bytes {
        [0xFF, second, ..] => {
            let sync = second & 0xE0 == 0xE0;
            let version_reserved = (second >> 3) & 0b11 == 0b01;
            let layer3 = (second >> 1) & 0b11 == 0b01;
            sync && !version_reserved && layer3
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few real-looking first bytes of each type.
    fn sample(t: FileType) -> Vec<u8> {
        let mut head: Vec<u8> = match t {
            FileType::Jpeg => vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'],
            FileType::Png => b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
            FileType::Gif => b"GIF89a\x01\0\x01\0".to_vec(),
            FileType::Webp => b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(),
            FileType::Pdf => b"%PDF-1.7\n".to_vec(),
            FileType::Mp4 => b"\0\0\0\x20ftypisom\0\0\x02\0".to_vec(),
            FileType::Mp3 => b"ID3\x04\0\0\0\0\0\0".to_vec(),
        };
        head.extend_from_slice(&[0u8; 32]);
        head
    }

    const ALL: [FileType; 7] = [
        FileType::Jpeg,
        FileType::Png,
        FileType::Gif,
        FileType::Webp,
        FileType::Pdf,
        FileType::Mp4,
        FileType::Mp3,
    ];

    #[test]
    fn each_type_sniffs_as_itself_and_round_trips_its_extension() {
        for t in ALL {
            assert_eq!(FileType::sniff(&sample(t)), Some(t), "{t:?}");
            assert_eq!(FileType::from_extension(t.extension()), Some(t));
        }
        assert_eq!(FileType::from_extension("JPEG"), Some(FileType::Jpeg));
    }

    #[test]
    fn bare_mpeg_frames_are_mp3_but_other_ff_starts_are_not() {
        assert_eq!(
            FileType::sniff(&[0xFF, 0xFB, 0x90, 0x64]),
            Some(FileType::Mp3)
        );
        assert_eq!(
            FileType::sniff(&[0xFF, 0xF3, 0x40, 0xC4]),
            Some(FileType::Mp3)
        );
        // AAC (ADTS, layer 00) and MPEG layer II are not mp3.
        assert_eq!(FileType::sniff(&[0xFF, 0xF1, 0x50, 0x80]), None);
        assert_eq!(FileType::sniff(&[0xFF, 0xFD, 0x90, 0x64]), None);
    }

    #[test]
    fn other_content_and_other_extensions_are_refused() {
        for bytes in [
            &b"<!DOCTYPE html><html>"[..],
            b"MZ\x90\0",
            b"\x7fELF\x02\x01",
            b"PK\x03\x04",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"",
            b"\xFF",
        ] {
            assert_eq!(FileType::sniff(bytes), None, "{bytes:?}");
        }
        for ext in ["exe", "html", "ogg", "doc", "", "jpg.exe", "svg"] {
            assert_eq!(FileType::from_extension(ext), None, "{ext}");
        }
    }

    #[test]
    fn kinds_and_media_types() {
        assert_eq!(FileType::Gif.kind(), MediaKind::Image);
        assert_eq!(FileType::Pdf.kind(), MediaKind::Document);
        assert_eq!(FileType::Mp4.kind(), MediaKind::Video);
        assert_eq!(FileType::Mp3.kind(), MediaKind::Audio);
        assert_eq!(MediaKind::parse(" Image "), Some(MediaKind::Image));
        assert_eq!(MediaKind::parse("sticker"), None);
        assert_eq!(MediaKind::Document.as_str(), "document");
    }
}
