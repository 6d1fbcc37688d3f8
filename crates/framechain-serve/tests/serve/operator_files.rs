//! Hostile operator files: `--streams-file` and `--admin-token-file` (a
//! mounted Secret, or whatever a mistake put there) read through
//! `framechain serve`'s own argument parser and configuration. Each bad
//! file gets one line that names the file and the problem and quotes no
//! token; none is read past its size limit, and none panics.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use clap::{Args, FromArgMatches};
use framechain::Pipeline;
use framechain_serve::{ServeArgs, ServeConfig, Server, StreamSpec};

use crate::support;

/// A folder of this test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "framechain-serve-operator-files-{}-{test}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A file `name` holding `content`.
    fn file(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// A sparse file of `size` bytes (zeros): huge, but costs no disk.
    fn sparse(&self, name: &str, size: u64) -> PathBuf {
        let path = self.0.join(name);
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `framechain serve`'s arguments parsed as the CLI and the shim parse them.
fn serve_args(arguments: &[OsString]) -> ServeArgs {
    let mut all: Vec<OsString> = ["--pipeline", "unused.yaml", "--http", "127.0.0.1:0"]
        .map(OsString::from)
        .to_vec();
    all.extend(["--media", "127.0.0.1:0"].map(OsString::from));
    all.extend(arguments.iter().cloned());
    let command = ServeArgs::augment_args(clap::Command::new("serve").no_binary_name(true));
    let matches = command
        .try_get_matches_from(all)
        .unwrap_or_else(|error| panic!("{error}"));
    ServeArgs::from_arg_matches(&matches).expect("serve arguments")
}

/// One small pipeline for every test here (building it is what costs).
fn pipeline() -> Arc<Pipeline> {
    static PIPELINE: OnceLock<Arc<Pipeline>> = OnceLock::new();
    PIPELINE
        .get_or_init(|| support::pipeline("decode-h264 alignment=access-unit ! encode-h264"))
        .clone()
}

/// The server's configuration from `arguments`, as `framechain serve`
/// makes it; an error as the one line it prints.
fn configure(arguments: &[OsString]) -> Result<ServeConfig, String> {
    serve_args(arguments)
        .config(pipeline())
        .map_err(|error| error.to_string())
}

fn streams_file(path: &Path) -> Vec<OsString> {
    vec!["--streams-file".into(), path.into()]
}

fn with_admin_token_file(path: &Path) -> Vec<OsString> {
    vec![
        "--stream".into(),
        "room1:publish-room1-secret:view-room1-secret".into(),
        "--admin-token-file".into(),
        path.into(),
    ]
}

/// `error` is one line naming `file` and saying `problem`, and quotes none
/// of `secrets`.
fn assert_one_line(error: &str, file: &Path, problem: &str, secrets: &[&str]) {
    assert!(
        !error.contains(['\n', '\r']),
        "more than one line: {error:?}"
    );
    assert!(
        error.contains(&file.display().to_string()),
        "the file is not named: {error}"
    );
    assert!(error.contains(problem), "not `{problem}`: {error}");
    for secret in secrets {
        assert!(!error.contains(secret), "a token is quoted: {error}");
    }
}

fn refused(arguments: &[OsString]) -> String {
    match configure(arguments) {
        Ok(config) => panic!(
            "accepted, with {} stream(s) and admin token {}",
            config.streams.len(),
            if config.admin_token.is_some() {
                "set"
            } else {
                "unset"
            }
        ),
        Err(error) => error,
    }
}

#[test]
fn a_good_streams_file_with_comments_blank_lines_and_crlf_is_read() {
    let scratch = Scratch::new("good");
    let file = scratch.file(
        "streams",
        "# clinic rooms\r\n\r\n  room1:publish-one-secret:view-one-secret  \r\nroom-2:p/u+b=1234:v/i+e=5678\n# end\n",
    );
    let config = configure(&streams_file(&file)).expect("a good file");
    let names: Vec<&str> = config.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["room1", "room-2"]);
    assert_eq!(config.streams[1].publish_token, "p/u+b=1234");
    assert_eq!(config.streams[1].view_token, "v/i+e=5678");

    let token = scratch.file("admin", "  admin-token-secret\n");
    let config = configure(&with_admin_token_file(&token)).expect("a good admin token file");
    assert_eq!(config.admin_token.as_deref(), Some("admin-token-secret"));
}

#[test]
fn a_huge_file_is_refused_by_its_size_unread() {
    let scratch = Scratch::new("huge");
    // 100 GiB: reading it, or even allocating for it, would not end well.
    let huge = scratch.sparse("streams", 100 << 30);
    let error = refused(&streams_file(&huge));
    assert_one_line(&error, &huge, "larger than 4194304 bytes", &[]);
    let huge_token = scratch.sparse("admin", 100 << 30);
    let error = refused(&with_admin_token_file(&huge_token));
    assert_one_line(&error, &huge_token, "larger than 4096 bytes", &[]);

    // Just over the limit, in real bytes of valid lines (the size is the
    // problem, not the content).
    let line = "# a comment line that is valid and long enough to add up quickly\n";
    let big = scratch.file("big", line.repeat((4 << 20) / line.len() + 1));
    let error = refused(&streams_file(&big));
    assert_one_line(&error, &big, "larger than 4194304 bytes", &[]);
}

/// The name of the child process's variable of
/// [`an_endless_streams_file_is_refused_after_its_limit`].
const ENDLESS_CHILD: &str = "FRAMECHAIN_SERVE_TEST_ENDLESS_CHILD";

/// `/dev/zero` has no size to refuse it by and never ends: it must be
/// refused after the limit's bytes. The reading runs in a child process
/// of this test binary with 1 GiB of address space, so a reader that reads
/// it all fails there (out of memory) instead of taking the machine's.
#[test]
fn an_endless_streams_file_is_refused_after_its_limit() {
    let zero = Path::new("/dev/zero");
    if std::env::var_os(ENDLESS_CHILD).is_some() {
        // The streams are read before anything else in the configuration
        // (`ServeArgs::config` asks `all_streams`), without a pipeline.
        let error = serve_args(&streams_file(zero))
            .all_streams()
            .map(|streams| streams.len())
            .expect_err("/dev/zero is no streams file")
            .to_string();
        assert_one_line(&error, zero, "larger than 4194304 bytes", &[]);
        return;
    }
    let output = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 1048576 && exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "operator_files::an_endless_streams_file_is_refused_after_its_limit",
            "--test-threads=1",
        ])
        .env(ENDLESS_CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn missing_files_and_directories_are_named() {
    let scratch = Scratch::new("missing");
    let missing = scratch.0.join("no-such-file");
    let error = refused(&streams_file(&missing));
    assert_one_line(&error, &missing, "No such file or directory", &[]);
    let error = refused(&with_admin_token_file(&missing));
    assert_one_line(&error, &missing, "No such file or directory", &[]);

    let error = refused(&streams_file(&scratch.0));
    assert_one_line(&error, &scratch.0, "a directory", &[]);
    let error = refused(&with_admin_token_file(&scratch.0));
    assert_one_line(&error, &scratch.0, "a directory", &[]);
}

#[test]
fn binary_garbage_is_refused_with_its_line() {
    let scratch = Scratch::new("garbage");
    let mut bytes = b"room1:publish-one-secret:view-one-secret\n".to_vec();
    bytes.extend([0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3]);
    let invalid = scratch.file("invalid-utf8", &bytes);
    let error = refused(&streams_file(&invalid));
    assert_one_line(
        &error,
        &invalid,
        "line 2 is not UTF-8 text",
        &["publish-one-secret", "view-one-secret"],
    );
    let error = refused(&with_admin_token_file(&scratch.file("admin", [0x80, b'x'])));
    assert!(error.contains("line 1 is not UTF-8 text"), "{error}");

    // Valid UTF-8, but controls, an escape sequence and a bidirectional
    // override where the name goes: shown escaped, on one line.
    let controls = scratch.file(
        "controls",
        "\0\x07\x1b[2J\u{202e}\r:publish-one-secret:view-one-secret\n",
    );
    let error = refused(&streams_file(&controls));
    assert_one_line(
        &error,
        &controls,
        "line 1: stream name",
        &["publish-one-secret", "view-one-secret"],
    );
    assert!(
        !error.contains(['\0', '\x07', '\x1b', '\u{202e}']),
        "controls pass through: {error:?}"
    );
    // Zeros, as a sparse file or a truncated write leaves them.
    let zeros = scratch.file("zeros", [0u8; 1000]);
    let error = refused(&streams_file(&zeros));
    assert_one_line(&error, &zeros, "line 1: a stream is NAME:", &[]);
}

#[test]
fn bad_lines_are_refused_with_their_number_and_no_token() {
    let scratch = Scratch::new("lines");
    let good = "room1:publish-one-secret:view-one-secret\n";
    for (line, problem, secrets) in [
        (
            "room2::view-two-secret",
            "stream room2: the publish token must be 8 to 256 printable ASCII",
            &["view-two-secret"][..],
        ),
        (
            "room2:publish-two-secret:",
            "stream room2: the view token must be",
            &["publish-two-secret"],
        ),
        ("room2", "a stream is NAME:PUBLISH_TOKEN:VIEW_TOKEN", &[]),
        (
            "room2:same-token-secret:same-token-secret",
            "stream room2: the publish and view tokens must differ",
            &["same-token-secret"],
        ),
        (
            "room2:publish two secret:view-two-secret",
            "stream room2: the publish token must be",
            &["publish two secret", "view-two-secret"],
        ),
        (
            "room2:publish-two-secret:view\ttwo\x07secret",
            "stream room2: the view token must be",
            &["publish-two-secret", "view\ttwo\x07secret", "secret"],
        ),
        (
            "room2:publish-two-secret:view-twö-secret",
            "stream room2: the view token must be",
            &["publish-two-secret", "view-twö-secret"],
        ),
        (
            "room two:publish-two-secret:view-two-secret",
            "stream name \"room two\"",
            &["publish-two-secret", "view-two-secret"],
        ),
    ] {
        let file = scratch.file("streams", format!("{good}# a comment\n{line}\n"));
        let error = refused(&streams_file(&file));
        assert_one_line(&error, &file, &format!("line 3: {problem}"), secrets);
        assert!(!error.contains("one-secret"), "a token is quoted: {error}");
    }
}

#[test]
fn a_stream_given_twice_is_refused_where_it_is_given_again() {
    let scratch = Scratch::new("twice");
    let file = scratch.file(
        "streams",
        "room1:publish-one-secret:view-one-secret\nroom2:publish-two-secret:view-two-secret\nroom1:publish-three-secret:view-three-secret\n",
    );
    let error = refused(&streams_file(&file));
    assert_one_line(
        &error,
        &file,
        "line 3: stream room1 is given twice",
        &["-secret"],
    );

    // Once on the command line and once in the file.
    let file = scratch.file("streams", "room9:publish-nine-secret:view-nine-secret\n");
    let mut arguments = streams_file(&file);
    arguments.extend([
        "--stream".into(),
        "room9:publish-x-secret:view-x-secret".into(),
    ]);
    let error = refused(&arguments);
    assert_one_line(
        &error,
        &file,
        "line 1: stream room9 is given twice",
        &["-secret"],
    );
}

#[test]
fn more_streams_than_the_cap_are_refused_at_the_first_line_over_it() {
    let scratch = Scratch::new("cap");
    let lines: String = (1..=4097)
        .map(|n| format!("room{n}:publish-{n}-secret:view-{n}-secret\n"))
        .collect();
    let file = scratch.file("streams", lines);
    let error = refused(&streams_file(&file));
    assert_one_line(
        &error,
        &file,
        "line 4097: more than 4096 streams",
        &["-secret"],
    );
    // The cap itself is fine.
    let lines: String = (1..=4096)
        .map(|n| format!("room{n}:publish-{n}-secret:view-{n}-secret\n"))
        .collect();
    let file = scratch.file("streams", lines);
    assert_eq!(configure(&streams_file(&file)).unwrap().streams.len(), 4096);
}

#[test]
fn an_admin_token_file_must_hold_one_usable_token() {
    let scratch = Scratch::new("admin");
    for (content, problem) in [
        ("", "it holds no token"),
        ("  \n\t\n", "it holds no token"),
        ("short", "the admin token must be one line of 8 to 256"),
        (
            "admin-token-secret\nsecond-line-secret\n",
            "the admin token must be one line",
        ),
        ("admin token secret", "the admin token must be one line"),
        (
            "admin\x1btoken\x07secret",
            "the admin token must be one line",
        ),
    ] {
        let file = scratch.file("admin", content);
        let error = refused(&with_admin_token_file(&file));
        assert_one_line(&error, &file, problem, &["secret"]);
    }
}

/// The library's entry point holds the same limits as the files: a
/// program that builds a `ServeConfig` itself gets the same refusals.
#[test]
fn a_config_built_in_code_holds_the_same_limits() {
    let refusal = |config: ServeConfig| match Server::start(config) {
        Ok(_) => panic!("a server started"),
        Err(error) => error.to_string(),
    };
    for token in ["admin token secret", "admin-token\nsecret", "short"] {
        let mut config = ServeConfig::new(pipeline());
        config.streams.push(StreamSpec {
            name: "room1".to_owned(),
            publish_token: "publish-one-secret".to_owned(),
            view_token: "view-one-secret".to_owned(),
        });
        config.admin_token = Some(token.to_owned());
        let error = refusal(config);
        assert!(
            error.contains("the admin token must be one line") && !error.contains("secret"),
            "{error}"
        );
    }
    let mut config = ServeConfig::new(pipeline());
    config.streams = (0..=4096)
        .map(|n| StreamSpec {
            name: format!("room{n}"),
            publish_token: format!("publish-{n}-secret"),
            view_token: format!("view-{n}-secret"),
        })
        .collect();
    assert_eq!(refusal(config), "more than 4096 streams");
}

/// `--drain-timeout` holds a call open after SIGTERM: a value outside
/// 0..=86400 seconds (or not a number of seconds at all) is refused
/// before the server starts, in one line.
#[test]
fn a_drain_timeout_out_of_range_is_refused() {
    let with = |value: &str| {
        configure(&[
            "--stream".into(),
            "room1:publish-room1-secret:view-room1-secret".into(),
            format!("--drain-timeout={value}").into(),
        ])
    };
    for bad in ["-1", "NaN", "inf", "86401", "1e300"] {
        let Err(error) = with(bad) else {
            panic!("--drain-timeout={bad} was accepted");
        };
        assert_eq!(error, "--drain-timeout must be 0 to 86400 seconds", "{bad}");
    }
    for (good, seconds) in [("0", 0), ("1800", 1800), ("86400", 86_400)] {
        let config = with(good).unwrap_or_else(|error| panic!("{good}: {error}"));
        assert_eq!(
            config.drain_timeout,
            std::time::Duration::from_secs(seconds)
        );
    }
}

/// The edge pod's flags are checked at start, each refusal one line
/// naming its flag: what needs what, and values that cannot be used.
#[test]
fn edge_flags_need_each_other_and_usable_values() {
    let keys = std::env::temp_dir().join("framechain-edge-flags-jwks.json");
    let args = |extra: &[&str]| -> Vec<OsString> {
        let mut all: Vec<OsString> = vec!["--keys".into(), keys.clone().into()];
        all.extend(extra.iter().map(OsString::from));
        all
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--center", "http://centre"], "--center needs --redis"),
        (&["--node", "pod-a"], "--node needs --redis"),
        (
            &["--redis", "redis://127.0.0.1:6379/"],
            "--redis needs --node",
        ),
        (
            &["--redis", "http://127.0.0.1:6379/", "--node", "pod-a"],
            "--redis: an unexpected scheme",
        ),
        (
            &["--redis", "redis://127.0.0.1/", "--node", "pod/a"],
            "--node: use 1 to 63",
        ),
        (
            &[
                "--redis",
                "redis://127.0.0.1/",
                "--node",
                "pod-a",
                "--center",
                "ftp://c",
            ],
            "--center: an unexpected scheme",
        ),
        (
            &[
                "--redis",
                "redis://127.0.0.1/",
                "--node",
                "pod-a",
                "--label",
                "a=1",
                "--label",
                "a=2",
            ],
            "--label a is given twice",
        ),
        (
            &[
                "--redis",
                "redis://127.0.0.1/",
                "--node",
                "pod-a",
                "--spool-max-bytes",
                "10",
            ],
            "--spool-max-bytes must be at least 1024",
        ),
        (
            &[
                "--redis",
                "redis://127.0.0.1/",
                "--node",
                "pod-a",
                "--center",
                "http://c",
                "--rooms",
                "rooms.json",
            ],
            "--rooms and --center exclude each other",
        ),
    ];
    for (extra, wanted) in cases {
        let error = configure(&args(extra)).err().unwrap_or_default();
        assert!(error.starts_with(wanted), "{extra:?}: {error}");
        assert!(!error.contains('\n'), "{error:?}");
    }
    let config = configure(&args(&[
        "--redis",
        "redis://127.0.0.1/",
        "--node",
        "pod-a",
        "--center",
        "http://centre/",
        "--label",
        "region=eu-west",
    ]))
    .expect("a good edge pod");
    let edge = config.edge.expect("edge settings");
    assert_eq!(edge.center.as_deref(), Some("http://centre"));
    assert_eq!(edge.labels["region"], "eu-west");
}
