//! Uploaded prompts through the router: each format, the size and length limits, corrupt and
//! non-audio files refused with the reason and nothing stored, list / get / download (the 8 kHz
//! WAV holdline plays), queues naming `prompt:ID`, and delete refused while a queue uses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use holdline::api::{router, ApiState, FileSource, MemoryLive, Provisioning};
use holdline::store::Store;
use holdline_testkit::audio::{ffmpeg, p};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api_support::{call, call_with, problems, FILE, TOKEN};

/// The API over an in-memory store with prompts kept in a temporary directory.
struct PromptApp {
    router: Router,
    dir: tempfile::TempDir,
}

impl PromptApp {
    fn prompts_dir(&self) -> PathBuf {
        self.dir.path().join("prompts")
    }

    /// The files in the prompt directory (temporary ones included).
    fn stored_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.prompts_dir())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// `media` lines go into `[media]` after `dir`.
fn app_with(media: &str) -> PromptApp {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{FILE}\n[media]\ndir = \"prompts\"\n{media}\n");
    let file = FileSource {
        text,
        label: "holdline.toml".into(),
        base_dir: dir.path().to_owned(),
    };
    let (prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), file).unwrap();
    let state = ApiState::new(
        prov,
        Arc::new(MemoryLive::default()),
        Some(TOKEN.to_owned()),
    );
    state.prov().set_wall_clock(|| 1_700_000_000_000);
    PromptApp {
        router: router(state),
        dir,
    }
}

fn app() -> PromptApp {
    app_with("")
}

/// A mono 16-bit PCM WAV of a `freq` Hz sine at `rate` Hz lasting `secs`, written by hand.
fn sine_wav(rate: u32, secs: f64, freq: f64) -> Vec<u8> {
    let n = (f64::from(rate) * secs) as usize;
    let samples: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            ((2.0 * std::f64::consts::PI * freq * t).sin() * 12_000.0) as i16
        })
        .collect();
    let data_len = (n * 2) as u32;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// `wav` converted by ffmpeg to `ext` (mp3: libmp3lame; wma: wmav2).
fn encoded(dir: &Path, wav: &[u8], ext: &str) -> Vec<u8> {
    let input = dir.join("source.wav");
    std::fs::write(&input, wav).unwrap();
    let out = dir.join(format!("out.{ext}"));
    let codec = if ext == "wma" { "wmav2" } else { "libmp3lame" };
    ffmpeg(&["-i", p(&input), "-c:a", codec, "-b:a", "64k", p(&out)]);
    std::fs::read(out).unwrap()
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", content_type)
        .header("content-length", body.len().to_string())
        .body(Body::from(body))
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        bytes,
    }
}

async fn upload_raw(app: &PromptApp, name: &str, bytes: Vec<u8>) -> Answer {
    let path = format!("/api/v1/prompts?name={name}");
    send(
        &app.router,
        "POST",
        &path,
        "application/octet-stream",
        bytes,
    )
    .await
}

async fn upload_multipart(app: &PromptApp, file_name: &str, bytes: &[u8]) -> Answer {
    let boundary = "holdline-test-boundary-7d41";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    send(&app.router, "POST", "/api/v1/prompts", &ct, body).await
}

/// The one problem message of a 422 answer.
fn problem(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.json());
    let ps = problems(&a.json());
    assert_eq!(ps.len(), 1, "{ps:?}");
    ps[0].1.clone()
}

#[tokio::test]
async fn each_format_uploads_and_reports_what_it_is() {
    let app = app();
    let work = tempfile::tempdir().unwrap();
    let wav = sine_wav(16_000, 1.5, 440.0);
    let mp3 = encoded(work.path(), &sine_wav(22_050, 2.0, 440.0), "mp3");
    let wma = encoded(work.path(), &sine_wav(22_050, 2.0, 440.0), "wma");

    let a = upload_raw(&app, "hello.wav", wav.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let w = a.json();
    assert_eq!(w["name"], "hello.wav");
    assert_eq!(w["format"], "wav");
    assert!(w["codec"].as_str().unwrap().starts_with("pcm_s16le"), "{w}");
    assert_eq!(w["sample_rate"], 16_000);
    assert_eq!(w["channels"], 1);
    assert_eq!(w["duration_ms"], 1_500);
    assert_eq!(w["size"], wav.len());
    assert_eq!(w["uploaded_at_ms"], 1_700_000_000_000_i64);
    let id = w["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert_eq!(w["reference"], format!("prompt:{id}"));
    assert_eq!(w["used_by"], json!([]));

    let a = upload_multipart(&app, "music.mp3", &mp3).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let m = a.json();
    assert_eq!(
        (m["name"].as_str(), m["format"].as_str()),
        (Some("music.mp3"), Some("mp3"))
    );
    assert!(m["codec"].as_str().unwrap().starts_with("mp3"), "{m}");
    assert_eq!(m["sample_rate"], 22_050);
    let ms = m["duration_ms"].as_u64().unwrap();
    assert!((1_990..=2_150).contains(&ms), "mp3 lasts {ms} ms");

    let a = upload_raw(&app, "old.wma", wma.clone()).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.json());
    let x = a.json();
    assert_eq!(x["format"], "wma");
    assert!(x["codec"].as_str().unwrap().starts_with("wmav2"), "{x}");
    assert_eq!(x["size"], wma.len());

    // Each is stored under its id with its bytes unchanged, and nothing else is left behind.
    let ids: Vec<String> = [&w, &m, &x]
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(app.stored_files(), expected);
    assert_eq!(std::fs::read(app.prompts_dir().join(&id)).unwrap(), wav);

    let (status, list) = call(&app.router, "GET", "/api/v1/prompts", None).await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids);

    // The same content again is the same prompt.
    let again = upload_raw(&app, "again.wav", wav).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json()["id"], id.as_str());
    assert_eq!(app.stored_files().len(), 3);
}

#[tokio::test]
async fn an_upload_over_the_size_limit_is_refused_and_nothing_is_stored() {
    let app = app_with("max_upload_mb = 1");
    // 40 s at 16 kHz 16-bit: 1.28 MB.
    let big = sine_wav(16_000, 40.0, 300.0);
    assert!(big.len() > 1024 * 1024);
    let a = upload_raw(&app, "big.wav", big.clone()).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.json());
    let error = a.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains("1 MB limit ([media] max_upload_mb)"),
        "{error}"
    );
    let a = upload_multipart(&app, "big.wav", &big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.stored_files().is_empty());
    let (_, list) = call(&app.router, "GET", "/api/v1/prompts", None).await;
    assert_eq!(list, json!([]));
    // Just under the limit passes.
    let ok = upload_raw(&app, "ok.wav", sine_wav(16_000, 30.0, 300.0)).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.json());
}

#[tokio::test]
async fn an_upload_over_the_length_limit_is_refused_and_nothing_is_stored() {
    let app = app_with("max_prompt_seconds = 2");
    let a = upload_raw(&app, "long.wav", sine_wav(8_000, 3.0, 440.0)).await;
    let why = problem(&a);
    assert!(why.contains("longer than 2 s"), "{why}");
    assert!(app.stored_files().is_empty());
    let ok = upload_raw(&app, "short.wav", sine_wav(8_000, 1.9, 440.0)).await;
    assert_eq!(ok.status, StatusCode::CREATED);
}

#[tokio::test]
async fn corrupt_and_non_audio_uploads_are_refused_with_the_reason() {
    let app = app();
    let text = upload_raw(&app, "notes.txt", b"these are my notes, not audio".to_vec()).await;
    let why = problem(&text);
    assert!(why.contains("not an audio file"), "{why}");

    let long_name = "n".repeat(201);
    let named = upload_raw(&app, &long_name, sine_wav(8_000, 0.5, 440.0)).await;
    assert!(problem(&named).contains("name must be 1 to 200 characters"));

    let empty = upload_raw(&app, "empty.wav", Vec::new()).await;
    assert!(problem(&empty).contains("empty"));

    // A WAV whose header promises more samples than it holds.
    let mut cut = sine_wav(8_000, 2.0, 440.0);
    cut.truncate(cut.len() / 2);
    let why = problem(&upload_raw(&app, "cut.wav", cut).await);
    assert!(
        why.contains("truncated audio: decoding stops at 0.999 s of 2.000 s (7989 of 16000"),
        "{why}"
    );

    // An MP3 whose frames past the first few are overwritten with noise.
    let work = tempfile::tempdir().unwrap();
    let mut mp3 = encoded(work.path(), &sine_wav(22_050, 3.0, 440.0), "mp3");
    let mut x: u32 = 0x1234_5678;
    for b in mp3.iter_mut().skip(2_000) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let a = upload_multipart(&app, "noise.mp3", &mp3).await;
    let why = problem(&a);
    assert!(
        why.contains("corrupt or truncated audio: decoding stops at 0."),
        "{why}"
    );
    assert!(a.json()["problems"][0]["subject"]
        .as_str()
        .unwrap()
        .contains("noise.mp3"));

    assert!(app.stored_files().is_empty());
    let (_, list) = call(&app.router, "GET", "/api/v1/prompts", None).await;
    assert_eq!(list, json!([]));
}

/// (format tag, channels, rate, bits, data bytes) of a plain PCM WAV.
fn wav_header(w: &[u8]) -> (u16, u16, u32, u16, usize) {
    assert_eq!(&w[0..4], b"RIFF");
    assert_eq!(&w[8..16], b"WAVEfmt ");
    let u16_at = |i: usize| u16::from_le_bytes([w[i], w[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]]);
    assert_eq!(&w[36..40], b"data");
    (
        u16_at(20),
        u16_at(22),
        u32_at(24),
        u16_at(34),
        u32_at(40) as usize,
    )
}

#[tokio::test]
async fn the_download_is_the_8khz_wav_holdline_plays() {
    let app = app();
    let work = tempfile::tempdir().unwrap();
    let mp3 = encoded(work.path(), &sine_wav(44_100, 2.0, 500.0), "mp3");
    let up = upload_raw(&app, "tone.mp3", mp3).await;
    assert_eq!(up.status, StatusCode::CREATED);
    let meta = up.json();
    let id = meta["id"].as_str().unwrap();

    let (status, got) = call(&app.router, "GET", &format!("/api/v1/prompts/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["duration_ms"], meta["duration_ms"]);

    let path = format!("/api/v1/prompts/{id}/audio");
    let a = send(&app.router, "GET", &path, "application/json", Vec::new()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-type"], "audio/wav");
    let (format, channels, rate, bits, data) = wav_header(&a.bytes);
    assert_eq!((format, channels, rate, bits), (1, 1, 8_000, 16));
    assert_eq!(data, a.bytes.len() - 44);
    let duration_ms = (data / 2) as u64 * 1000 / 8_000;
    assert_eq!(duration_ms, meta["duration_ms"].as_u64().unwrap());
    // The tone survives: about 500 crossings of zero upward per second, at real level.
    let samples: Vec<i16> = a.bytes[44..]
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let middle = &samples[4_000..12_000]; // one second from 0.5 s
    let ups = middle.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
    assert!(
        (490..=510).contains(&ups),
        "{ups} upward zero crossings in 1 s"
    );
    let rms = (middle.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / 8_000.0).sqrt();
    assert!(rms > 4_000.0, "rms {rms}");

    let (status, _) = call(
        &app.router,
        "GET",
        "/api/v1/prompts/0123456789abcdef/audio",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn queues_name_uploaded_prompts_and_a_used_prompt_cannot_be_removed() {
    let app = app();
    let up = upload_raw(&app, "welcome.wav", sine_wav(8_000, 1.0, 440.0)).await;
    let id = up.json()["id"].as_str().unwrap().to_owned();
    let reference = format!("prompt:{id}");

    let (status, q) = call(
        &app.router,
        "POST",
        "/api/v1/queues",
        Some(
            json!({ "id": "sales", "numbers": ["+14255550101"], "agents": ["bea"],
                     "greeting": reference, "music_on_hold": reference }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    assert_eq!(q["greeting"], reference.as_str());
    assert_eq!(q["music_on_hold"], reference.as_str());

    let (_, got) = call(&app.router, "GET", &format!("/api/v1/prompts/{id}"), None).await;
    assert_eq!(
        got["used_by"],
        json!([{ "queue": "sales", "field": "greeting" },
               { "queue": "sales", "field": "music_on_hold" }])
    );
    let (status, body) = call(
        &app.router,
        "DELETE",
        &format!("/api/v1/prompts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("sales (greeting)"), "{error}");
    assert_eq!(app.stored_files(), std::slice::from_ref(&id));

    let (status, _) = call(
        &app.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "greeting": null, "music_on_hold": "default" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app.router,
        "DELETE",
        &format!("/api/v1/prompts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(app.stored_files().is_empty());
    let (status, _) = call(&app.router, "GET", &format!("/api/v1/prompts/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app.router,
        "DELETE",
        &format!("/api/v1/prompts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Now that it is gone, naming it is refused.
    let (status, body) = call(
        &app.router,
        "PATCH",
        "/api/v1/queues/sales",
        Some(json!({ "greeting": reference })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let ps = problems(&body);
    assert_eq!(ps.len(), 1, "{ps:?}");
    assert_eq!(ps[0].0, "greeting");
    assert!(ps[0].1.contains("no uploaded prompt has this id"), "{ps:?}");
}

#[tokio::test]
async fn a_queue_naming_an_unknown_or_malformed_prompt_is_refused() {
    let app = app();
    for (value, expect) in [
        ("prompt:0123456789abcdef", "no uploaded prompt has this id"),
        ("prompt:../../etc/passwd", "is not a prompt id"),
    ] {
        let (status, body) = call(
            &app.router,
            "POST",
            "/api/v1/queues",
            Some(
                json!({ "id": "sales", "numbers": ["+14255550101"], "agents": ["bea"],
                         "music_on_hold": value }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{value}: {body}");
        let ps = problems(&body);
        assert_eq!(ps.len(), 1, "{ps:?}");
        assert_eq!(ps[0].0, "music_on_hold");
        assert!(ps[0].1.contains(expect), "{value}: {ps:?}");
    }
}

#[tokio::test]
async fn uploads_need_the_token_and_a_prompt_directory() {
    let app = app();
    let (status, _) = call_with(&app.router, "GET", "/api/v1/prompts", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/prompts")
        .body(Body::from(sine_wav(8_000, 0.5, 440.0)))
        .unwrap();
    let resp = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(app.stored_files().is_empty());

    // A store kept in memory and no [media] dir: nowhere to keep an upload.
    let file = FileSource {
        text: format!("{FILE}\n[store]\npath = \":memory:\"\n"),
        label: "holdline.toml".into(),
        base_dir: app.dir.path().to_owned(),
    };
    let (prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), file).unwrap();
    let memory = router(ApiState::new(
        prov,
        Arc::new(MemoryLive::default()),
        Some(TOKEN.to_owned()),
    ));
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/prompts")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(sine_wav(8_000, 0.5, 440.0)))
        .unwrap();
    let resp = memory.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("store is kept in memory"), "{text}");
}

#[test]
fn a_config_file_naming_a_prompt_checks_that_it_was_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("holdline.toml");
    let id = "00112233445566ff";
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"state/holdline.db\"\n\n\
             [[number]]\ne164 = \"+14255550100\"\nkind = \"service-toll\"\n\n\
             [[user]]\nid = \"amos\"\n\n\
             [[queue]]\nid = \"demo\"\nnumbers = [\"+14255550100\"]\nagents = [\"amos\"]\n\
             greeting = \"prompt:{id}\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("state/prompts")).unwrap();
    let err = holdline::config::load(&config).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "greeting \"prompt:{id}\": no uploaded prompt has this id"
        )),
        "{err}"
    );
    // Uploaded prompts sit beside the store by default.
    std::fs::write(
        dir.path().join("state/prompts").join(id),
        sine_wav(8_000, 0.5, 440.0),
    )
    .unwrap();
    let c = holdline::config::load(&config).unwrap();
    assert_eq!(
        c.queues[0].greeting.as_deref(),
        Some(dir.path().join("state/prompts").join(id).as_path())
    );
}

/// The API with a prompt directory served on 127.0.0.1:0 in a background runtime.
fn server() -> (String, tempfile::TempDir) {
    server_with("")
}

/// [`server`] with `media` lines in `[media]`.
fn server_with(media: &str) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = FileSource {
        text: format!("{FILE}\n[media]\ndir = \"prompts\"\n{media}\n"),
        label: "holdline.toml".into(),
        base_dir: dir.path().to_owned(),
    };
    let (prov, _) = Provisioning::open(Store::open_in_memory().unwrap(), file).unwrap();
    let state = ApiState::new(
        prov,
        Arc::new(MemoryLive::default()),
        Some(TOKEN.to_owned()),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            holdline::api::serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
    });
    (addr, dir)
}

#[test]
fn cli_uploads_lists_gets_and_removes_a_prompt() {
    use holdline::api::cli::{run_object, run_prompt, ApiArgs, ObjectCmd, PromptCmd};
    use holdline::store::Kind;

    let (addr, _dir) = server();
    let args = |json: bool| ApiArgs {
        api: Some(addr.clone()),
        token: Some(TOKEN.to_owned()),
        json,
    };
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("welcome+message.wav");
    std::fs::write(&file, sine_wav(8_000, 1.0, 440.0)).unwrap();

    let out = run_prompt(
        &PromptCmd::Upload {
            file: file.clone(),
            name: None,
        },
        &args(true),
    )
    .unwrap();
    let uploaded: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(uploaded["name"], "welcome+message.wav");
    assert_eq!(uploaded["duration_ms"], 1_000);
    let id = uploaded["id"].as_str().unwrap().to_owned();

    let table = run_prompt(&PromptCmd::List, &args(false)).unwrap();
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], id, "{table}");
    assert!(row.contains(&"wav") && row.contains(&"1000"), "{table}");

    // A queue names it; get shows the use, and remove is refused naming the queue.
    run_object(
        Kind::Queue,
        &ObjectCmd::New {
            id: "sales".into(),
            fields: vec![
                "numbers=+14255550101".into(),
                "agents=bea".into(),
                format!("greeting=prompt:{id}"),
            ],
        },
        &args(false),
    )
    .unwrap();
    let got = run_prompt(&PromptCmd::Get { id: id.clone() }, &args(false)).unwrap();
    assert!(
        got.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["used_by", "sales", "(greeting)"]),
        "{got}"
    );
    let refused = run_prompt(&PromptCmd::Remove { id: id.clone() }, &args(false)).unwrap_err();
    assert!(
        refused.to_string().contains("used by queue sales"),
        "{refused}"
    );
    assert_eq!(refused.exit_code(), 1);

    run_object(
        Kind::Queue,
        &ObjectCmd::Remove { id: "sales".into() },
        &args(false),
    )
    .unwrap();
    let removed = run_prompt(&PromptCmd::Remove { id: id.clone() }, &args(false)).unwrap();
    assert_eq!(removed, format!("removed prompt {id}"));
    let gone = run_prompt(&PromptCmd::Get { id }, &args(false)).unwrap_err();
    assert!(gone.to_string().contains("does not exist"), "{gone}");

    // A file that is not audio: the server's reason, as the user sees it.
    let notes = work.path().join("notes.txt");
    std::fs::write(&notes, "not audio").unwrap();
    let err = run_prompt(
        &PromptCmd::Upload {
            file: notes,
            name: Some("notes".into()),
        },
        &args(false),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("validation failed"), "{err}");
    assert!(
        err.contains("not an audio file holdline plays (WAV, MP3 or WMA)"),
        "{err}"
    );
}

#[tokio::test]
async fn the_openapi_document_describes_the_upload_forms() {
    let app = app();
    let (_, doc) = call(&app.router, "GET", "/api/v1/openapi.json", None).await;
    let upload = &doc["paths"]["/api/v1/prompts"]["post"];
    let forms: Vec<&str> = upload["requestBody"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        forms.contains(&"multipart/form-data") && forms.contains(&"audio/*"),
        "{forms:?}"
    );
    assert!(upload["responses"]["201"].is_object() && upload["responses"]["413"].is_object());
    let audio = &doc["paths"]["/api/v1/prompts/{id}/audio"]["get"]["responses"]["200"];
    assert!(audio["content"]["audio/wav"].is_object(), "{audio}");
}

#[test]
fn cli_upload_over_the_size_limit_is_refused_by_the_server_with_the_limit() {
    use holdline::api::cli::{run_prompt, ApiArgs, PromptCmd};

    let (addr, dir) = server_with("max_upload_mb = 1");
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("big.wav");
    // 3 MB: the server answers 413 from the declared length, before the body is read.
    std::fs::write(&file, sine_wav(48_000, 32.0, 440.0)).unwrap();
    let args = ApiArgs {
        api: Some(addr),
        token: Some(TOKEN.to_owned()),
        json: false,
    };
    let err = run_prompt(&PromptCmd::Upload { file, name: None }, &args)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("larger than the 1 MB limit ([media] max_upload_mb)"),
        "{err}"
    );
    assert!(
        !dir.path().join("prompts").exists()
            || std::fs::read_dir(dir.path().join("prompts"))
                .unwrap()
                .count()
                == 0
    );
}
