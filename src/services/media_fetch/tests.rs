//! `fetch_media` against a small HTTP server on 127.0.0.1 run by the test (loopback is allowed
//! through `allowed_private_ips`, so the private-address rule still applies to everything else).

use super::*;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// One canned answer.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Wait before answering.
    delay: Duration,
    /// Leave out Content-Length (the body then ends when the connection closes).
    no_length: bool,
}

fn ok(body: Vec<u8>) -> Reply {
    Reply {
        status: 200,
        headers: Vec::new(),
        body,
        delay: Duration::ZERO,
        no_length: false,
    }
}

fn status(code: u16) -> Reply {
    Reply {
        status: code,
        ..ok(b"nope".to_vec())
    }
}

fn redirect(location: &str) -> Reply {
    Reply {
        status: 302,
        headers: vec![("Location".into(), location.into())],
        ..ok(Vec::new())
    }
}

type Routes = dyn Fn(&str, u16) -> Reply + Send + Sync;

/// A one-thread-per-connection HTTP/1.1 server answering from `routes(path, own_port)`.
struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(routes: impl Fn(&str, u16) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let routes: Arc<Routes> = Arc::new(routes);
        let (count, stopped) = (requests.clone(), stop.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (routes, count) = (routes.clone(), count.clone());
                thread::spawn(move || serve(conn, &*routes, &count, port));
            }
        });
        Server {
            port,
            requests,
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

fn serve(conn: TcpStream, routes: &Routes, count: &AtomicUsize, port: u16) {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    count.fetch_add(1, Ordering::SeqCst);
    let reply = routes(&path, port);
    thread::sleep(reply.delay);
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !reply.no_length {
        head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    head.push_str("\r\n");
    let mut conn = reader.into_inner();
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&reply.body);
}

/// Loopback allowed by address, everything else private refused.
fn policy() -> FetchPolicy {
    FetchPolicy {
        allow_private: false,
        allowed_private_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(5),
        max_redirects: 3,
    }
}

/// A file of the type: its magic bytes, then filler.
fn file(t: FileType, len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = match t {
        FileType::Jpeg => vec![0xFF, 0xD8, 0xFF, 0xE0],
        FileType::Png => b"\x89PNG\r\n\x1a\n".to_vec(),
        FileType::Gif => b"GIF89a".to_vec(),
        FileType::Webp => b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(),
        FileType::Pdf => b"%PDF-1.4\n".to_vec(),
        FileType::Mp4 => b"\0\0\0\x18ftypmp42".to_vec(),
        FileType::Mp3 => vec![0xFF, 0xFB, 0x90, 0x64],
    };
    bytes.resize(len.max(bytes.len()), 0x5A);
    bytes
}

/// Serves `/<anything>.<ext>` as the type the extension names, `/mismatch.jpg` as PNG.
fn typed_server() -> Server {
    Server::start(|path, _| {
        let name = path.split('?').next().unwrap_or(path);
        if name == "/mismatch.jpg" {
            return ok(file(FileType::Png, 300));
        }
        if name == "/page.jpg" {
            return ok(b"<!DOCTYPE html><title>Not a photo</title>".to_vec());
        }
        if name == "/empty.png" {
            return ok(Vec::new());
        }
        let ext = name.rsplit('.').next().unwrap_or("");
        match FileType::from_extension(ext) {
            Some(t) => ok(file(t, 300)),
            None => ok(b"MZ\x90\0 an executable".to_vec()),
        }
    })
}

#[test]
fn every_accepted_type_is_fetched_with_its_mimetype_name_and_kind() {
    let server = typed_server();
    let cases = [
        (
            "/a/photo.jpg",
            FileType::Jpeg,
            "image/jpeg",
            MediaKind::Image,
        ),
        (
            "/b/photo.JPEG",
            FileType::Jpeg,
            "image/jpeg",
            MediaKind::Image,
        ),
        (
            "/c/pic.png?size=large",
            FileType::Png,
            "image/png",
            MediaKind::Image,
        ),
        ("/anim.gif", FileType::Gif, "image/gif", MediaKind::Image),
        ("/s.webp", FileType::Webp, "image/webp", MediaKind::Image),
        (
            "/docs/Annual%20report.pdf",
            FileType::Pdf,
            "application/pdf",
            MediaKind::Document,
        ),
        ("/clip.mp4", FileType::Mp4, "video/mp4", MediaKind::Video),
        ("/song.mp3", FileType::Mp3, "audio/mpeg", MediaKind::Audio),
    ];
    for (path, file_type, mime, kind) in cases {
        let got =
            fetch_media(&server.url(path), &policy()).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(got.file_type, file_type, "{path}");
        assert_eq!(got.mimetype, mime, "{path}");
        assert_eq!(got.kind, kind, "{path}");
        assert_eq!(got.bytes, file(file_type, 300), "{path}");
    }
    let named = fetch_media(&server.url("/docs/Annual%20report.pdf#page=2"), &policy()).unwrap();
    assert_eq!(named.filename, "Annual report.pdf");
    assert_eq!(
        fetch_media(&server.url("/x/y/song.mp3"), &policy())
            .unwrap()
            .filename,
        "song.mp3"
    );
}

#[test]
fn other_extensions_are_refused_before_any_request() {
    let server = typed_server();
    for path in [
        "/setup.exe",
        "/index.html",
        "/voice.ogg",
        "/",
        "/photo",
        "/photo.jpg/",
        "/a.jpg.exe",
    ] {
        assert_eq!(
            fetch_media(&server.url(path), &policy()),
            Err(MediaFetchError::UnsupportedExtension),
            "{path}"
        );
    }
    assert_eq!(server.requests(), 0);
}

#[test]
fn content_must_match_the_extension() {
    let server = typed_server();
    assert_eq!(
        fetch_media(&server.url("/mismatch.jpg"), &policy()),
        Err(MediaFetchError::ContentMismatch {
            extension: FileType::Jpeg,
            content: FileType::Png
        })
    );
    assert_eq!(
        fetch_media(&server.url("/page.jpg"), &policy()),
        Err(MediaFetchError::UnrecognisedContent)
    );
    assert_eq!(
        fetch_media(&server.url("/empty.png"), &policy()),
        Err(MediaFetchError::Empty)
    );
}

#[test]
fn files_over_the_cap_are_refused_with_or_without_a_length() {
    let server = Server::start(|path, _| {
        let body = file(FileType::Png, 5_000);
        match path {
            "/declared.png" => ok(body),
            "/exact.png" => ok(file(FileType::Png, 1_000)),
            _ => Reply {
                no_length: true,
                ..ok(body)
            },
        }
    });
    let small = FetchPolicy {
        max_bytes: 1_000,
        ..policy()
    };
    for path in ["/declared.png", "/streamed.png"] {
        assert_eq!(
            fetch_media(&server.url(path), &small),
            Err(MediaFetchError::TooLarge { max_bytes: 1_000 }),
            "{path}"
        );
    }
    assert_eq!(
        fetch_media(&server.url("/exact.png"), &small)
            .unwrap()
            .bytes
            .len(),
        1_000
    );
}

#[test]
fn redirects_are_followed_up_to_the_limit() {
    // /hop/N redirects to /hop/N-1; /hop/0 is the file. Relative, absolute-path and absolute forms.
    let server = Server::start(|path, port| {
        let n: u32 = path
            .strip_prefix("/hop/")
            .and_then(|rest| rest.split('/').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        match n {
            0 => ok(file(FileType::Jpeg, 100)),
            1 => redirect("../0/cdn-object"),
            2 => redirect("/hop/1/x"),
            _ => redirect(&format!("http://127.0.0.1:{port}/hop/{}/x", n - 1)),
        }
    });
    let three = fetch_media(&server.url("/hop/3/photo.jpg"), &policy()).unwrap();
    assert_eq!(three.file_type, FileType::Jpeg);
    assert_eq!(
        three.filename, "photo.jpg",
        "the name comes from the URL asked for"
    );
    assert_eq!(server.requests(), 4);
    assert_eq!(
        fetch_media(&server.url("/hop/4/photo.jpg"), &policy()),
        Err(MediaFetchError::TooManyRedirects(3))
    );
    let none = FetchPolicy {
        max_redirects: 0,
        ..policy()
    };
    assert_eq!(
        fetch_media(&server.url("/hop/1/photo.jpg"), &none),
        Err(MediaFetchError::TooManyRedirects(0))
    );
}

#[test]
fn a_redirect_to_a_private_address_is_refused_unless_allowed() {
    let server = Server::start(|path, _| match path {
        "/to-lan.jpg" => redirect("http://10.0.0.1/photo.jpg"),
        "/to-metadata.jpg" => redirect("http://169.254.169.254/latest/meta-data"),
        "/to-v6-loopback.jpg" => redirect("http://[::1]:9/photo.jpg"),
        "/to-file.jpg" => redirect("file:///etc/passwd"),
        "/no-location.jpg" => status(302),
        _ => ok(file(FileType::Jpeg, 50)),
    });
    for path in ["/to-lan.jpg", "/to-metadata.jpg", "/to-v6-loopback.jpg"] {
        assert_eq!(
            fetch_media(&server.url(path), &policy()),
            Err(MediaFetchError::RefusedAddress),
            "{path}"
        );
    }
    assert!(matches!(
        fetch_media(&server.url("/to-file.jpg"), &policy()),
        Err(MediaFetchError::InvalidUrl(_))
    ));
    assert_eq!(
        fetch_media(&server.url("/no-location.jpg"), &policy()),
        Err(MediaFetchError::BadRedirect)
    );
    // Loopback itself, when it is not on the allow-list.
    let strict = FetchPolicy {
        allowed_private_ips: Vec::new(),
        ..policy()
    };
    let before = server.requests();
    assert_eq!(
        fetch_media(&server.url("/photo.jpg"), &strict),
        Err(MediaFetchError::RefusedAddress)
    );
    assert_eq!(
        fetch_media(
            &format!("http://localhost:{}/photo.jpg", server.port),
            &strict
        ),
        Err(MediaFetchError::RefusedAddress)
    );
    assert_eq!(server.requests(), before, "nothing reached the server");
    // ...and with private addresses allowed outright.
    let open = FetchPolicy {
        allow_private: true,
        allowed_private_ips: Vec::new(),
        ..policy()
    };
    assert!(fetch_media(&server.url("/photo.jpg"), &open).is_ok());
}

#[test]
fn http_errors_and_timeouts_are_media_errors() {
    let server = Server::start(|path, _| match path {
        "/missing.jpg" => status(404),
        "/broken.jpg" => status(500),
        "/slow.jpg" => Reply {
            delay: Duration::from_secs(3),
            ..ok(file(FileType::Jpeg, 10))
        },
        _ => ok(file(FileType::Jpeg, 10)),
    });
    assert_eq!(
        fetch_media(&server.url("/missing.jpg"), &policy()),
        Err(MediaFetchError::HttpStatus(404))
    );
    assert_eq!(
        fetch_media(&server.url("/broken.jpg"), &policy()),
        Err(MediaFetchError::HttpStatus(500))
    );
    let hasty = FetchPolicy {
        timeout: Duration::from_millis(300),
        ..policy()
    };
    assert_eq!(
        fetch_media(&server.url("/slow.jpg"), &hasty),
        Err(MediaFetchError::Timeout)
    );
    // Nothing listens on the port any more once the server is gone.
    let port = server.port;
    drop(server);
    thread::sleep(Duration::from_millis(50));
    assert!(matches!(
        fetch_media(&format!("http://127.0.0.1:{port}/x.jpg"), &policy()),
        Err(MediaFetchError::Unreachable(_))
    ));
}

#[test]
fn only_http_urls_are_accepted() {
    for url in [
        "ftp://example.com/a.jpg",
        "file:///tmp/a.jpg",
        "data:image/png;base64,AAAA",
        "https://user:pw@example.com/a.jpg",
        "http:///a.jpg",
        "https://exa mple.com/a.jpg",
        "",
    ] {
        assert!(
            matches!(
                fetch_media(url, &policy()),
                Err(MediaFetchError::InvalidUrl(_))
            ),
            "{url:?}"
        );
    }
}

#[test]
fn locations_resolve_against_the_current_url() {
    let base = MediaUrl::parse("https://cdn.example.com:8443/a/b/photo.jpg?x=1#frag").unwrap();
    assert_eq!(base.text, "https://cdn.example.com:8443/a/b/photo.jpg?x=1");
    let join = |loc: &str| base.join(loc).map(|u| u.text);
    assert_eq!(
        join("c.jpg").unwrap(),
        "https://cdn.example.com:8443/a/b/c.jpg"
    );
    assert_eq!(
        join("/root.jpg").unwrap(),
        "https://cdn.example.com:8443/root.jpg"
    );
    assert_eq!(
        join("//other.example/x").unwrap(),
        "https://other.example/x"
    );
    assert_eq!(
        join("HTTP://plain.example/y?z").unwrap(),
        "http://plain.example/y?z"
    );
    assert!(matches!(
        join("javascript:alert(1)"),
        Err(MediaFetchError::InvalidUrl(_))
    ));
    assert_eq!(join("  "), Err(MediaFetchError::BadRedirect));
    let bare = MediaUrl::parse("http://example.com?q=1").unwrap();
    assert_eq!(bare.text, "http://example.com/?q=1");
}

#[test]
fn file_names_are_decoded_and_made_safe() {
    assert_eq!(percent_decode("a%20b%2Fc%zz%4"), "a b/c%zz%4");
    assert_eq!(
        safe_file_name("a/b\\c\u{7}.jpg", FileType::Jpeg),
        "a_b_c_.jpg"
    );
    assert_eq!(safe_file_name("...", FileType::Pdf), "file.pdf");
    let long = format!("{}.mp4", "x".repeat(300));
    let safe = safe_file_name(&long, FileType::Mp4);
    assert_eq!(safe, format!("{}.mp4", "x".repeat(100)));
    assert_eq!(
        MediaUrl::parse("http://e.com/d/%D7%A9%D7%9C%D7%95%D7%9D.png")
            .unwrap()
            .file_name()
            .unwrap(),
        (FileType::Png, "שלום.png".to_string())
    );
}

#[test]
fn the_allow_list_covers_mapped_addresses_and_nothing_else() {
    let p = FetchPolicy {
        allowed_private_ips: vec!["192.168.1.20".parse().unwrap()],
        ..policy()
    };
    assert!(p.permits("192.168.1.20".parse().unwrap()));
    assert!(p.permits("::ffff:192.168.1.20".parse().unwrap()));
    assert!(!p.permits("192.168.1.21".parse().unwrap()));
    assert!(!p.permits("127.0.0.1".parse().unwrap()));
    assert!(p.permits("8.8.8.8".parse().unwrap()));
    let config = MediaConfig {
        allowed_private_ips: vec!["10.0.0.7".into()],
        ..MediaConfig::default()
    };
    let from_config = FetchPolicy::from_config(&config);
    assert_eq!(from_config.max_bytes, 16 * 1024 * 1024);
    assert!(from_config.permits("10.0.0.7".parse().unwrap()));
    assert!(!from_config.allow_private);
}

#[test]
fn the_media_section_is_validated() {
    let mut config = crate::config::Config::default();
    assert!(config.validate().is_ok());
    config.media.allowed_private_ips = vec!["192.168.1.20".into(), "not-an-ip".into()];
    let err = config.validate().unwrap_err();
    assert!(
        err.contains("allowed_private_ips") && err.contains("not-an-ip"),
        "{err}"
    );
    config.media.allowed_private_ips.clear();
    config.media.max_bytes = 0;
    assert!(config.validate().is_err());
}
