//! The bad-input suite: wrong flags, broken config files and malformed HTTP, each answered with
//! the documented exit code (or HTTP status and COS error code) and a first line that says
//! what is wrong.
//!
//! Table-driven: a case is one row. CLI rows run the `haul` binary with a temporary HOME,
//! config and state directory (and a deadline, so a hang fails instead of blocking); server
//! rows send one request to `haul serve` started in-process on 127.0.0.1.

use crate::common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::s3::{S3Req, S3};
use common::{Cos, GZ, GZ_BUCKET};

/// How long one `haul` run may take before the case fails as a hang.
const DEADLINE: Duration = Duration::from_secs(20);

/// The config file a CLI row runs with (`HAUL_CONFIG`).
#[derive(Clone, Copy)]
enum Conf {
    /// No `HAUL_CONFIG`, no default file.
    None,
    /// A file with this text.
    Text(&'static str),
    /// A file with these bytes.
    Bytes(&'static [u8]),
    /// A directory.
    Dir,
    /// A FIFO nobody writes to.
    Fifo,
    /// `/dev/zero`.
    DevZero,
    /// A 2 MiB (sparse) file.
    Huge,
    /// A path that does not exist.
    Missing,
}

struct CliCase {
    name: &'static str,
    args: &'static [&'static str],
    conf: Conf,
    /// Whether TENCENTCLOUD_SECRET_ID / _KEY are set.
    creds: bool,
    code: i32,
    /// What stderr's first line starts with; `{CONFIG}` stands for the config path.
    first: &'static str,
}

const fn cli(
    name: &'static str,
    args: &'static [&'static str],
    conf: Conf,
    code: i32,
    first: &'static str,
) -> CliCase {
    CliCase {
        name,
        args,
        conf,
        creds: true,
        code,
        first,
    }
}

const USAGE: i32 = 2;
const FAILED: i32 = 1;

const CLI_CASES: &[CliCase] = &[
    // ---- global flags and subcommands ----
    cli("unknown subcommand", &["frobnicate"], Conf::None, USAGE, "error: unrecognized subcommand 'frobnicate'"),
    cli("unknown global flag", &["--colour", "ls"], Conf::None, USAGE, "error: unexpected argument '--colour' found"),
    cli("--profile without a value", &["ls", "--profile"], Conf::None, USAGE, "error: a value is required for '--profile <PROFILE>' but none was supplied"),
    cli("--endpoint with another scheme", &["--endpoint", "ftp://127.0.0.1:9", "ls"], Conf::None, USAGE, "haul: profile \"default\": --endpoint: \"ftp://127.0.0.1:9\" uses scheme \"ftp\": the endpoint must start with http:// or https://"),
    cli("--endpoint with a path", &["--endpoint", "http://127.0.0.1:9/cos", "ls"], Conf::None, USAGE, "haul: profile \"default\": --endpoint: \"http://127.0.0.1:9/cos\" has a path (\"/cos\")"),
    cli("--endpoint that is not a URL", &["--endpoint", "127.0.0.1 9000", "ls"], Conf::None, USAGE, "haul: profile \"default\": --endpoint: \"127.0.0.1 9000\" is not a URL"),
    cli("--endpoint where nothing listens", &["--endpoint", "http://127.0.0.1:1", "ls"], Conf::None, FAILED, "haul: cannot reach http://127.0.0.1:1 for cos:// (connection failed)"),
    cli("--profile not in the file", &["--profile", "prod", "ls"], Conf::Text("[profiles.dev]\n"), USAGE, "haul: unknown profile \"prod\" in {CONFIG}: known profiles are \"dev\""),
    // ---- ls ----
    cli("ls with another scheme", &["ls", "gs://bucket/key"], Conf::None, USAGE, "haul: \"gs://bucket/key\" is not a cos:// or s3:// URI: write cos://BUCKET-APPID/KEY"),
    cli("ls s3 without AWS credentials", &["ls", "s3://media/"], Conf::None, USAGE, "haul: no credentials for profile \"default\": set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    cli("ls with a bad S3 bucket name", &["ls", "s3://ab/"], Conf::None, USAGE, "haul: \"ab\" is not an S3 bucket name: 3 to 63"),
    cli("ls with a bucket without APPID", &["ls", "cos://bucket/"], Conf::None, USAGE, "haul: \"bucket\" is not a COS bucket name: it must look like NAME-APPID"),
    cli("ls --page-size 0", &["ls", "--page-size", "0", "cos://alpha-1250000000/"], Conf::None, USAGE, "error: invalid value '0' for '--page-size <N>': 0 is not in 1..=1000"),
    cli("ls --page-size 1001", &["ls", "--page-size", "1001"], Conf::None, USAGE, "error: invalid value '1001' for '--page-size <N>': 1001 is not in 1..=1000"),
    cli("ls --page-size words", &["ls", "--page-size", "many"], Conf::None, USAGE, "error: invalid value 'many' for '--page-size <N>': invalid digit found in string"),
    cli("ls with two URIs", &["ls", "cos://a-1250000000/", "cos://b-1250000000/"], Conf::None, USAGE, "error: unexpected argument 'cos://b-1250000000/' found"),
    CliCase { creds: false, ..cli("ls without credentials", &["ls"], Conf::None, USAGE, "haul: no credentials for profile \"default\": set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY") },
    // ---- uploads ----
    cli("uploads without a subcommand", &["uploads"], Conf::None, USAGE, "Incomplete multipart uploads: list or abort them"),
    cli("uploads ls without a URI", &["uploads", "ls"], Conf::None, USAGE, "error: the following required arguments were not provided:"),
    cli("uploads ls with a bad URI", &["uploads", "ls", "http://x/"], Conf::None, USAGE, "haul: \"http://x/\" is not a cos:// or s3:// URI"),
    cli("uploads abort without a choice", &["uploads", "abort", "cos://alpha-1250000000/"], Conf::None, USAGE, "error: the following required arguments were not provided:"),
    cli("uploads abort --all with --upload-id", &["uploads", "abort", "cos://alpha-1250000000/", "--all", "--upload-id", "u"], Conf::None, USAGE, "error: the argument '--all' cannot be used with '--upload-id <UPLOAD_ID>'"),
    cli("uploads abort --older-than nonsense", &["uploads", "abort", "cos://alpha-1250000000/", "--all", "--older-than", "soon"], Conf::None, USAGE, "haul: --older-than: \"soon\" is not a duration"),
    cli("uploads abort off a terminal without --yes", &["uploads", "abort", "cos://alpha-1250000000/", "--all"], Conf::None, USAGE, "haul: refusing to abort uploads without confirmation: add --yes"),
    // ---- jobs ----
    cli("jobs resume without an id", &["jobs", "resume"], Conf::None, USAGE, "haul: name a job id (see `haul jobs ls`) or pass --all"),
    cli("jobs resume with a word for an id", &["jobs", "resume", "seven"], Conf::None, USAGE, "error: invalid value 'seven' for '[ID]'"),
    cli("jobs abort without an id", &["jobs", "abort"], Conf::None, USAGE, "error: the following required arguments were not provided:"),
    cli("jobs resume an id and --all", &["jobs", "resume", "3", "--all"], Conf::None, USAGE, "error: the argument '[ID]' cannot be used with '--all'"),
    // ---- serve flags ----
    cli("serve --listen without a port", &["serve", "--listen", "127.0.0.1"], Conf::None, USAGE, "error: invalid value '127.0.0.1' for '--listen"),
    cli("serve --latency nonsense", &["serve", "--latency", "slow"], Conf::None, USAGE, "error: invalid value 'slow' for '--latency"),
    cli("serve unknown flag", &["serve", "--port", "9000"], Conf::None, USAGE, "error: unexpected argument '--port' found"),
    // ---- cp: URI syntax only ----
    cli("cp from s3 to cos", &["cp", "s3://media/b", "cos://alpha-1250000000/b"], Conf::None, USAGE, "haul: s3://media/b and cos://alpha-1250000000/b are in different stores (s3 and cos): a copy between two providers or endpoints cannot be server-side"),
    cli("cp to a bucket without APPID", &["cp", "cos://alpha-1250000000/a", "cos://beta/b"], Conf::None, USAGE, "haul: destination: \"beta\" is not a COS bucket name"),
    // ---- the config file ----
    cli("config: TOML syntax error", &["ls"], Conf::Text("[engine\nconcurrency = 4\n"), USAGE, "haul: {CONFIG}:1:8: "),
    cli("config: unknown top-level key", &["ls"], Conf::Text("colour = \"blue\"\n"), USAGE, "haul: {CONFIG}:1:1: unknown field `colour`, expected one of"),
    cli("config: unknown profile key", &["ls"], Conf::Text("[profiles.default]\nregion = \"ap-beijing\"\nendpiont = \"http://x\"\n"), USAGE, "haul: {CONFIG}:3:1: unknown field `endpiont`, expected one of"),
    cli("config: wrong type", &["ls"], Conf::Text("[engine]\nconcurrency = \"lots\"\n"), USAGE, "haul: {CONFIG}:2:15: invalid type: string \"lots\", expected usize; check the value's type"),
    cli("config: profiles is not a table", &["ls"], Conf::Text("profiles = 3\n"), USAGE, "haul: {CONFIG}:1:12: invalid type: integer `3`, expected a map"),
    cli("config: default_profile that does not exist", &["ls"], Conf::Text("default_profile = \"gone\"\n"), USAGE, "haul: unknown profile \"gone\" in {CONFIG}: known profiles are none"),
    cli("config: endpoint with another scheme", &["ls"], Conf::Text("[profiles.default]\nendpoint = \"ftp://x\"\n"), USAGE, "haul: {CONFIG}:2:12: profile \"default\": endpoint: \"ftp://x\" uses scheme \"ftp\""),
    cli("config: endpoint that is not a URL", &["ls"], Conf::Text("[profiles.default]\nendpoint = \"cos here\"\n"), USAGE, "haul: {CONFIG}:2:12: profile \"default\": endpoint: \"cos here\" is not a URL"),
    cli("config: region with spaces", &["ls"], Conf::Text("[profiles.default]\nregion = \"Guang Zhou\"\n"), USAGE, "haul: {CONFIG}:2:10: profile \"default\": region \"Guang Zhou\" is not a COS region name: write it like ap-guangzhou"),
    cli("config: another provider", &["ls"], Conf::Text("[profiles.default]\nprovider = \"gcs\"\n"), USAGE, "haul: {CONFIG}:2:12: profile \"default\": provider \"gcs\" is not supported: use provider = \"cos\" (COS's own API) or \"s3\""),
    cli("config: the TUI on an s3 profile", &[], Conf::Text("[profiles.default]\nprovider = \"s3\"\nsecret_id_env = \"TENCENTCLOUD_SECRET_ID\"\nsecret_key_env = \"TENCENTCLOUD_SECRET_KEY\"\n"), USAGE, "haul: profile \"default\" has provider = \"s3\": the TUI opens COS profiles only today"),
    cli("config: a cos profile for s3 URIs", &["ls", "s3://media/"], Conf::Text("[profiles.default]\nprovider = \"cos\"\n"), USAGE, "haul: {CONFIG}:2:12: profile \"default\": this profile has provider = \"cos\", so it cannot open s3:// URIs: pass --profile"),
    cli("config: access path that is not a COS URI", &["ls"], Conf::Text("[profiles.default]\naccess_paths = [\"s3://xyz/y\"]\n"), USAGE, "haul: {CONFIG}:2:17: profile \"default\": access_paths: s3://xyz/y is not a cos:// URI"),
    cli("config: secret id variable that is unset", &["ls"], Conf::Text("[profiles.default]\nsecret_id_env = \"PROD_SECRET_ID\"\n"), USAGE, "haul: no credentials for profile \"default\": set PROD_SECRET_ID (named by secret_id_env at {CONFIG}:2:17) (and TENCENTCLOUD_SESSION_TOKEN for temporary keys)"),
    cli("config: not UTF-8", &["ls"], Conf::Bytes(b"region = \"\xff\"\n"), USAGE, "haul: cannot read config file {CONFIG}: not UTF-8 text (invalid byte at offset 10)"),
    cli("config: /dev/zero", &["ls"], Conf::DevZero, USAGE, "haul: config file /dev/zero is a character device, not a regular file: point --config / HAUL_CONFIG at a TOML file"),
    cli("config: a FIFO", &["ls"], Conf::Fifo, USAGE, "haul: config file {CONFIG} is a FIFO, not a regular file: point --config / HAUL_CONFIG at a TOML file"),
    cli("config: a directory", &["ls"], Conf::Dir, USAGE, "haul: config file {CONFIG} is a directory, not a regular file: point --config / HAUL_CONFIG at a TOML file"),
    cli("config: a huge file", &["ls"], Conf::Huge, USAGE, "haul: config file {CONFIG} is larger than 1.00 MiB: point --config / HAUL_CONFIG at the right file"),
    cli("config: missing file", &["ls"], Conf::Missing, USAGE, "haul: config file {CONFIG} does not exist: create it"),
    cli("config: FIFO for jobs ls", &["jobs", "ls"], Conf::Fifo, USAGE, "haul: config file {CONFIG} is a FIFO, not a regular file"),
    cli("config: /dev/zero for uploads ls", &["uploads", "ls", "cos://alpha-1250000000/"], Conf::DevZero, USAGE, "haul: config file /dev/zero is a character device"),
];

/// Runs `haul` for one row and returns (exit code, stderr, config path shown in messages).
fn run_cli(case: &CliCase, home: &Path) -> (Option<i32>, String, String) {
    run_cli_with(case, home, &[], &[])
}

/// `run_cli` with flags put before the row's arguments and variables added to its environment.
fn run_cli_with(
    case: &CliCase,
    home: &Path,
    pre_args: &[&str],
    extra_env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let conf_path = home.join(format!("conf-{}.toml", case.name.replace([' ', '/'], "-")));
    let shown = match case.conf {
        Conf::None => String::new(),
        Conf::Text(t) => {
            std::fs::write(&conf_path, t).unwrap();
            conf_path.display().to_string()
        }
        Conf::Bytes(b) => {
            std::fs::write(&conf_path, b).unwrap();
            conf_path.display().to_string()
        }
        Conf::Dir => {
            std::fs::create_dir(&conf_path).unwrap();
            conf_path.display().to_string()
        }
        Conf::Fifo => {
            let c = std::ffi::CString::new(conf_path.to_str().unwrap()).unwrap();
            // SAFETY: mkfifo on a NUL-terminated path in our temporary directory.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            conf_path.display().to_string()
        }
        Conf::DevZero => "/dev/zero".to_string(),
        Conf::Huge => {
            let f = std::fs::File::create(&conf_path).unwrap();
            f.set_len(2 << 20).unwrap();
            conf_path.display().to_string()
        }
        Conf::Missing => conf_path.display().to_string(),
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_haul"));
    cmd.args(pre_args)
        .args(case.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("HAUL_STATE_DIR", home.join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if !shown.is_empty() {
        cmd.env("HAUL_CONFIG", &shown);
    }
    if case.creds {
        cmd.env("TENCENTCLOUD_SECRET_ID", "AKIDbadinput")
            .env("TENCENTCLOUD_SECRET_KEY", "bad-input-key");
    }
    cmd.envs(extra_env.iter().copied());
    let mut child = cmd.spawn().expect("the haul binary runs");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{}: haul {:?} still running after {DEADLINE:?}",
                case.name, case.args
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err, shown)
}

#[test]
fn cli_and_config_mistakes_exit_with_the_code_and_first_line_documented() {
    let home = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in CLI_CASES {
        let (code, err, shown) = run_cli(case, home.path());
        let first = err.lines().next().unwrap_or("");
        let expected = case.first.replace("{CONFIG}", &shown);
        if code != Some(case.code) || !first.starts_with(&expected) {
            failures.push(format!(
                "{}: haul {:?}\n   expected exit {} and a first line starting {expected:?}\n   got exit {code:?}, first line {first:?}",
                case.name, case.args, case.code
            ));
        }
    }
    assert!(CLI_CASES.len() >= 40, "{}", CLI_CASES.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CLI_CASES.len(),
        failures.join("\n")
    );
}

// ---- credentials refused by a live server ----

/// A row against `haul serve`: the variables it runs with, and what its first line ends with.
struct AuthCase {
    cli: CliCase,
    env: &'static [(&'static str, &'static str)],
    /// What stderr's first line ends with (the hint); `{CONFIG}` as above.
    last: &'static str,
}

const TEMP_ID: &str = "AKIDtemporary";

const AUTH_CASES: &[AuthCase] = &[
    AuthCase {
        cli: cli("unknown secret id", &["ls"], Conf::None, FAILED, "haul: ListBuckets cos://: "),
        env: &[],
        last: ": check the secret id (TENCENTCLOUD_SECRET_ID)",
    },
    AuthCase {
        cli: cli("wrong secret key", &["ls"], Conf::None, FAILED, "haul: ListBuckets cos://: "),
        env: &[("TENCENTCLOUD_SECRET_ID", "AKIDgood"), ("TENCENTCLOUD_SECRET_KEY", "not-the-key")],
        last: ": check the secret key (TENCENTCLOUD_SECRET_KEY)",
    },
    AuthCase {
        cli: cli("temporary keys without their token", &["ls"], Conf::None, FAILED, "haul: ListBuckets cos://: "),
        env: &[("TENCENTCLOUD_SECRET_ID", TEMP_ID), ("TENCENTCLOUD_SECRET_KEY", "tempkey")],
        last: ": check the session token (TENCENTCLOUD_SESSION_TOKEN): temporary keys need their token, and all three expire together",
    },
    AuthCase {
        cli: cli("temporary keys with a wrong token", &["ls"], Conf::None, FAILED, "haul: ListBuckets cos://: "),
        env: &[
            ("TENCENTCLOUD_SECRET_ID", TEMP_ID),
            ("TENCENTCLOUD_SECRET_KEY", "tempkey"),
            ("TENCENTCLOUD_SESSION_TOKEN", "stale"),
        ],
        last: ": check the session token (TENCENTCLOUD_SESSION_TOKEN): temporary keys need their token, and all three expire together",
    },
    AuthCase {
        cli: cli("unknown secret id from a profile's variable", &["ls"], Conf::Text("[profiles.default]\nsecret_id_env = \"PROD_ID\"\n"), FAILED, "haul: ListBuckets cos://: "),
        env: &[("PROD_ID", "AKIDnobody")],
        last: ": check the secret id (PROD_ID (named by secret_id_env at {CONFIG}:2:17))",
    },
    AuthCase {
        cli: cli("bucket that does not exist", &["ls", "cos://nobody-1250000000/"], Conf::None, FAILED, "haul: bucket nobody-1250000000 does not exist"),
        env: &[("TENCENTCLOUD_SECRET_ID", "AKIDgood"), ("TENCENTCLOUD_SECRET_KEY", "goodkey")],
        last: "check the name, NAME-APPID",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_name_the_variable_to_check() {
    let h = common::start_server(common::args(&[
        "--credentials",
        "AKIDgood:goodkey",
        "--credentials",
        "AKIDtemporary:tempkey:temptoken",
    ]))
    .await;
    let endpoint = h.endpoint();
    let failures = tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().unwrap();
        let mut failures = Vec::new();
        for case in AUTH_CASES {
            let (code, err, shown) =
                run_cli_with(&case.cli, home.path(), &["--endpoint", &endpoint], case.env);
            let first = err.lines().next().unwrap_or("");
            let start = case.cli.first.replace("{CONFIG}", &shown);
            let end = case.last.replace("{CONFIG}", &shown);
            if code != Some(case.cli.code) || !first.starts_with(&start) || !first.ends_with(&end)
            {
                failures.push(format!(
                    "{}: expected exit {} and a first line {start:?} … {end:?}\n   got exit {code:?}, {first:?}",
                    case.cli.name, case.cli.code
                ));
            }
        }
        failures
    })
    .await
    .unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    h.shutdown().await;
}

// ---- the server ----

/// A server row: a request built on the signing test client, and the answer expected.
struct HttpCase {
    name: &'static str,
    request: fn(&Cos) -> common::Req,
    status: u16,
    code: &'static str,
    /// What the `<Message>` starts with.
    message: &'static str,
}

const OBJECT: &str = "bad-input/five.bin";

fn gz(c: &Cos, method: &str, key: &str) -> common::Req {
    c.obj(method, GZ_BUCKET, GZ, key)
}

const HTTP_CASES: &[HttpCase] = &[
    HttpCase {
        name: "unsigned request",
        request: |c| gz(c, "GET", OBJECT).unsigned(),
        status: 403,
        code: "AccessDenied",
        message: "",
    },
    HttpCase {
        name: "unknown secret id",
        request: |c| gz(c, "GET", OBJECT).creds("AKIDnobody", "whatever"),
        status: 403,
        code: "InvalidAccessKeyId",
        message: "",
    },
    HttpCase {
        name: "wrong secret key",
        request: |c| {
            let id = c.id.clone();
            gz(c, "GET", OBJECT).creds(&id, "not-the-key")
        },
        status: 403,
        code: "SignatureDoesNotMatch",
        message: "",
    },
    HttpCase {
        name: "garbage Authorization header",
        request: |c| {
            gz(c, "GET", OBJECT)
                .unsigned()
                .h("authorization", "Bearer nope")
        },
        status: 403,
        code: "AccessDenied",
        message: "",
    },
    HttpCase {
        name: "bucket that does not exist",
        request: |c| c.obj("GET", "nobody-1250000000", GZ, OBJECT),
        status: 404,
        code: "NoSuchBucket",
        message: "",
    },
    HttpCase {
        name: "key that does not exist",
        request: |c| gz(c, "GET", "bad-input/absent"),
        status: 404,
        code: "NoSuchKey",
        message: "",
    },
    HttpCase {
        name: "range past the end",
        request: |c| gz(c, "GET", OBJECT).h("range", "bytes=100-200"),
        status: 416,
        code: "InvalidRange",
        message: "",
    },
    HttpCase {
        name: "key longer than 850 bytes",
        request: |c| gz(c, "PUT", &"k".repeat(851)).body("x"),
        status: 400,
        code: "KeyTooLong",
        message: "",
    },
    HttpCase {
        name: "Content-MD5 that is not base64",
        request: |c| gz(c, "PUT", OBJECT).h("content-md5", "%%%").body("hello"),
        status: 400,
        code: "InvalidDigest",
        message: "",
    },
    HttpCase {
        name: "Content-MD5 that does not match",
        request: |c| {
            gz(c, "PUT", OBJECT)
                .h("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")
                .body("hello")
        },
        status: 400,
        code: "BadDigest",
        message: "",
    },
    HttpCase {
        name: "Complete with malformed XML",
        request: |c| {
            gz(c, "POST", OBJECT)
                .q("uploadId", "no-such-upload")
                .body("<CompleteMultipartUpload><Part><PartNumber>1</Part>")
        },
        status: 400,
        code: "MalformedXML",
        message: "",
    },
    HttpCase {
        name: "Complete of an upload that does not exist",
        request: |c| {
            gz(c, "POST", OBJECT).q("uploadId", "no-such-upload").body(
                "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e\"</ETag></Part></CompleteMultipartUpload>",
            )
        },
        status: 404,
        code: "NoSuchUpload",
        message: "",
    },
    HttpCase {
        name: "Upload Part with part number 0",
        request: |c| {
            gz(c, "PUT", OBJECT)
                .q("partNumber", "0")
                .q("uploadId", "u")
                .body("x")
        },
        status: 400,
        code: "InvalidArgument",
        message: "",
    },
    HttpCase {
        name: "copy source that is not a COS address",
        request: |c| gz(c, "PUT", "bad-input/copy").h("x-cos-copy-source", "not a source"),
        status: 400,
        code: "InvalidArgument",
        message: "",
    },
    HttpCase {
        name: "Upload Part with part number 10001",
        request: |c| {
            gz(c, "PUT", OBJECT)
                .q("partNumber", "10001")
                .q("uploadId", "u")
                .body("x")
        },
        status: 400,
        code: "InvalidArgument",
        message: "",
    },
    HttpCase {
        name: "encoding-type other than url",
        request: |c| gz(c, "GET", "").q("encoding-type", "base64"),
        status: 400,
        code: "InvalidArgument",
        message: "",
    },
    HttpCase {
        name: "max-parts that is not a number",
        request: |c| {
            gz(c, "GET", OBJECT)
                .q("uploadId", "u")
                .q("max-parts", "all")
        },
        status: 400,
        code: "InvalidArgument",
        message: "",
    },
    HttpCase {
        name: "max-keys that is not a number",
        request: |c| gz(c, "GET", "").q("max-keys", "lots"),
        status: 400,
        code: "InvalidArgument",
        message: "",
    },
    HttpCase {
        name: "unsupported method",
        request: |c| gz(c, "PATCH", OBJECT),
        status: 405,
        code: "MethodNotAllowed",
        message: "",
    },
    HttpCase {
        name: "service host with a path",
        request: |c| c.req("GET", "service.cos.myqcloud.com", "x"),
        status: 400,
        code: "InvalidURI",
        message: "",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_the_cos_status_and_code() {
    let h = common::start_server(common::serve_args()).await;
    let c = Cos::new(&h);
    let put = gz(&c, "PUT", OBJECT).body("hello").send().await;
    assert_eq!(put.status, 200, "{}", put.text);
    let mut failures = Vec::new();
    for case in HTTP_CASES {
        let r = (case.request)(&c).send().await;
        let code = r.code().unwrap_or_default();
        let message = r.tag("Message").unwrap_or_default();
        let first = message.lines().next().unwrap_or("");
        if r.status != case.status
            || code != case.code
            || first.is_empty()
            || !first.starts_with(case.message)
        {
            failures.push(format!(
                "{}: expected {} {} with a message starting {:?}\n   got {} {code:?} {first:?}",
                case.name, case.status, case.code, case.message, r.status
            ));
        }
    }
    let raw = raw_cases(&h.endpoint()).await;
    failures.extend(raw);
    assert!(
        failures.is_empty(),
        "{} server cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    h.shutdown().await;
}

/// Requests no HTTP client would send: written on a raw socket.
async fn raw_cases(endpoint: &str) -> Vec<String> {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let host = common::host(GZ_BUCKET, GZ);
    let big = "a".repeat(512 << 10);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "no Host header",
            "GET / HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
            "HTTP/1.1 4",
        ),
        (
            "Host header with spaces",
            "GET / HTTP/1.1\r\nHost: bad host name\r\nConnection: close\r\n\r\n".to_string(),
            "HTTP/1.1 4",
        ),
        (
            "oversized header",
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nx-big: {big}\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 431",
        ),
        (
            "not HTTP at all",
            "HELLO THERE\r\n\r\n".to_string(),
            "HTTP/1.1 400",
        ),
        (
            "Content-Length that is not a number",
            format!("PUT /k HTTP/1.1\r\nHost: {host}\r\nContent-Length: ten\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 400",
        ),
    ];
    let mut failures = Vec::new();
    for (name, request, expected) in cases {
        let addr = addr.clone();
        let got = tokio::task::spawn_blocking(move || raw_exchange(&addr, &request))
            .await
            .unwrap();
        let first = got.lines().next().unwrap_or("").to_string();
        if !first.starts_with(expected) {
            failures.push(format!(
                "{name}: expected a status line starting {expected:?}, got {first:?}"
            ));
        }
    }
    failures
}

/// Writes `request` and reads the answer until the server closes or 5 s pass.
fn raw_exchange(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request.as_bytes());
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
        if out.len() > (1 << 20) {
            break;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An S3 server row: a request built on the SigV4 test client, and the answer expected.
struct S3Case {
    name: &'static str,
    request: fn(&S3) -> S3Req,
    status: u16,
    code: &'static str,
}

fn gz_s3(s3: &S3, method: &str, key: &str) -> S3Req {
    s3.req(method, GZ_BUCKET, key)
}

const S3_CASES: &[S3Case] = &[
    S3Case {
        name: "S3: sub-resource haul serve does not implement",
        request: |s| gz_s3(s, "GET", "").q("versioning", ""),
        status: 501,
        code: "NotImplemented",
    },
    S3Case {
        name: "S3: x-amz-content-sha256 that is neither a hash nor a known value",
        request: |s| {
            gz_s3(s, "PUT", OBJECT)
                .body("x")
                .payload_hash("sha256-please")
        },
        status: 400,
        code: "InvalidArgument",
    },
    S3Case {
        name: "S3: aws-chunked claimed, plain body sent",
        request: |s| {
            gz_s3(s, "PUT", OBJECT)
                .h("x-amz-decoded-content-length", "5")
                .body("hello")
                .payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        },
        status: 400,
        code: "IncompleteBody",
    },
    S3Case {
        name: "S3: aws-chunked without x-amz-decoded-content-length",
        request: |s| {
            gz_s3(s, "PUT", OBJECT)
                .body("0\r\n\r\n")
                .payload_hash("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        },
        status: 411,
        code: "MissingContentLength",
    },
    S3Case {
        name: "S3: DeleteObjects without Content-MD5 or a checksum",
        request: |s| {
            gz_s3(s, "POST", "")
                .q("delete", "")
                .body("<Delete><Object><Key>a</Key></Object></Delete>")
        },
        status: 400,
        code: "InvalidRequest",
    },
    S3Case {
        name: "S3: DeleteObjects with malformed XML",
        request: |s| {
            gz_s3(s, "POST", "")
                .q("delete", "")
                .h("content-md5", "2/tgmBdmQLO+511KLYgSag==")
                .body("<Delete><Object>")
        },
        status: 400,
        code: "MalformedXML",
    },
    S3Case {
        name: "S3: ListObjectsV2 encoding-type other than url",
        request: |s| {
            gz_s3(s, "GET", "")
                .q("list-type", "2")
                .q("encoding-type", "base64")
        },
        status: 400,
        code: "InvalidArgument",
    },
    S3Case {
        name: "S3: COS's metadata directive spelling",
        request: |s| {
            gz_s3(s, "PUT", "bad-input/copy")
                .h("x-amz-copy-source", &format!("{GZ_BUCKET}/{OBJECT}"))
                .h("x-amz-metadata-directive", "Replaced")
        },
        status: 400,
        code: "InvalidArgument",
    },
    S3Case {
        name: "S3: copy source without a key",
        request: |s| gz_s3(s, "PUT", "bad-input/copy").h("x-amz-copy-source", "just-a-bucket"),
        status: 400,
        code: "InvalidArgument",
    },
    S3Case {
        name: "S3: CopyObject of more than 5 GB",
        request: |s| {
            gz_s3(s, "PUT", "bad-input/copy")
                .h("x-amz-copy-source", &format!("{GZ_BUCKET}/bad-input/6GiB"))
        },
        status: 400,
        code: "InvalidRequest",
    },
    S3Case {
        name: "S3: unsupported method",
        request: |s| gz_s3(s, "PATCH", OBJECT),
        status: 405,
        code: "MethodNotAllowed",
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_s3_requests_get_the_s3_status_code_and_error_body() {
    let h = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/bad-input/6GiB=6GiB",
    ]))
    .await;
    let s3 = S3::new(&h);
    let put = gz_s3(&s3, "PUT", OBJECT).body("hello").send().await;
    assert_eq!(put.status, 200, "{}", put.text);
    let mut failures = Vec::new();
    for case in S3_CASES {
        let r = (case.request)(&s3).send().await;
        let code = r.code().unwrap_or_default();
        let message = r.tag("Message").unwrap_or_default();
        // S3's shape: a HostId, never COS's TraceId.
        let s3_shape = r.tag("HostId").is_some() && r.tag("TraceId").is_none();
        if r.status != case.status || code != case.code || message.is_empty() || !s3_shape {
            failures.push(format!(
                "{}: expected {} {} in S3's error shape\n   got {} {code:?} {}",
                case.name, case.status, case.code, r.status, r.text
            ));
        }
    }
    // A malformed SigV4 header and an incomplete presigned query, sent as they are.
    let http = reqwest::Client::new();
    let url = format!("{}/{GZ_BUCKET}/{OBJECT}", h.endpoint());
    let raw: [(&str, reqwest::RequestBuilder, u16, &str); 2] = [
        (
            "S3: Authorization with no Credential",
            http.get(&url).header(
                "authorization",
                "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
            ),
            400,
            "AuthorizationHeaderMalformed",
        ),
        (
            "S3: presigned query without its signature",
            http.get(format!("{url}?X-Amz-Algorithm=AWS4-HMAC-SHA256")),
            403,
            "AuthorizationQueryParametersError",
        ),
    ];
    for (name, rb, status, code) in raw {
        let r = rb.send().await.expect("request");
        let got = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        if got != status || !text.contains(&format!("<Code>{code}</Code>")) {
            failures.push(format!(
                "{name}: expected {status} {code}\n   got {got} {text}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} S3 cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    h.shutdown().await;
}
