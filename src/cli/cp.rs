//! `haul cp`: one copy (or a prefix with --recursive), server-side, headless. Also the pieces
//! `haul jobs` and `haul uploads` share: building the client and engine from the config, and
//! watching engine events until the jobs end (progress line, plain lines or `--json`).
//!
//! A front end: checks arguments (exit 2 before anything is created), lists a prefix, enqueues
//! jobs and renders events. Copy policy lives in the engine; formatting in `progress`.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::progress::{json_event, level_str, Progress};
use super::{exit, fail, GlobalArgs};
use crate::config::{self, Profile};
use crate::engine::plan::{check_part_size, check_storage_class};
use crate::engine::region::Regions;
use crate::engine::retry::Stop;
use crate::engine::{
    default_state_dir, verify, Command, CopyOptions, CopySpec, Engine, EngineConfig, EngineHandle,
    Event, JobId, JobState, Overwrite, PartSize, Verification,
};
use crate::store::client::CosClient;
use crate::store::{CosUri, ListObjectsRequest, ObjectRef, ObjectStore};
use crate::units::{format_size, parse_size};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: cos://BUCKET-APPID/KEY (or a prefix ending in / with --recursive).
    pub source: String,
    /// Destination: cos://BUCKET-APPID/KEY, or a prefix ending in /.
    pub destination: String,
    /// Copy every object under the source prefix.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// Part size for multipart copies: "auto" (default) or a size such as 256MiB (1MiB..5GiB).
    #[arg(long, value_name = "SIZE|auto")]
    pub part_size: Option<String>,
    /// Parts in flight at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10000))]
    pub concurrency: Option<u32>,
    /// Objects copied at once (with --recursive).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub jobs: Option<u32>,
    /// Destination storage class (default: the source's).
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Skip the size / CRC64 check after the copy.
    #[arg(long)]
    pub no_verify: bool,
    /// Skip objects that already exist at the destination.
    #[arg(long)]
    pub no_clobber: bool,
    /// One JSON event a line on stdout (format: see cli/progress.rs).
    #[arg(long)]
    pub json: bool,
    /// Print only errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The client, profile and engine configuration a command runs with.
pub(crate) struct Setup {
    pub client: Arc<CosClient>,
    pub profile: Profile,
    pub engine: EngineConfig,
    /// `[engine] part_size` from the config.
    pub part_size: Option<String>,
}

/// Loads config and profile, builds the client and the engine config. Errors are usage errors.
pub(crate) fn setup(global: &GlobalArgs) -> Result<Setup, String> {
    let settings = config::load(global.config.as_deref()).map_err(|e| e.to_string())?;
    let profile =
        config::resolve_profile(&settings, &global.overrides()).map_err(|e| e.to_string())?;
    let client = CosClient::new(profile.client_options()).map_err(|e| e.to_string())?;
    let engine = engine_config(&settings, &profile)?;
    Ok(Setup {
        client: Arc::new(client),
        profile,
        engine,
        part_size: settings.file.engine.part_size.clone(),
    })
}

/// The engine configuration from `[engine]` and the profile (region, state dir). Shared by
/// the headless commands and the TUI; errors name the key at fault.
pub(crate) fn engine_config(
    settings: &config::Settings,
    profile: &Profile,
) -> Result<EngineConfig, String> {
    let sec = &settings.file.engine;
    let mut engine = EngineConfig {
        default_region: profile.region.clone(),
        state_dir: sec.state_dir.clone().or_else(default_state_dir),
        ..EngineConfig::default()
    };
    if let Some(n) = sec.concurrency {
        engine.concurrency = n.max(1);
    }
    if let Some(n) = sec.concurrency_per_job {
        engine.concurrency_per_job = n.max(1);
    }
    if let Some(n) = sec.jobs {
        engine.active_jobs = n.max(1);
    }
    if let Some(t) = &sec.single_copy_threshold {
        engine.single_copy_threshold =
            parse_size(t).map_err(|e| format!("[engine] single_copy_threshold: {e}"))?;
    }
    Ok(engine)
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Parses `auto` or a size, and checks it against COS's part limits.
pub(crate) fn parse_part_size(s: &str) -> Result<PartSize, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(PartSize::Auto);
    }
    let n = parse_size(s).map_err(|e| format!("--part-size: {e}"))?;
    check_part_size(n).map_err(|e| e.to_string())?;
    Ok(PartSize::Fixed(n))
}

/// Everything checkable without the network: URIs, recursion, self-copy, sizes, classes.
#[derive(Debug)]
pub(crate) struct Checked {
    pub source: CosUri,
    pub destination: CosUri,
    pub options: CopyOptions,
}

pub(crate) fn check_args(args: &Args, config_part_size: Option<&str>) -> Result<Checked, String> {
    let mut source = CosUri::parse(&args.source).map_err(|e| format!("source: {e}"))?;
    let mut destination =
        CosUri::parse(&args.destination).map_err(|e| format!("destination: {e}"))?;
    if args.recursive {
        if !source.is_prefix() {
            source.key.push('/');
        }
        if !destination.is_prefix() {
            destination.key.push('/');
        }
        if source == destination {
            return Err(format!(
                "{source} would be copied onto itself: choose another destination"
            ));
        }
    } else {
        if source.is_prefix() {
            return Err(format!(
                "{source} is a prefix: add --recursive to copy every object under it, or name one object"
            ));
        }
        if destination.is_prefix() {
            let name = source.key.rsplit('/').next().unwrap_or(&source.key);
            destination.key.push_str(name);
        }
        if source == destination {
            return Err(format!(
                "{source} would be copied onto itself: choose another destination"
            ));
        }
    }
    let part_size = match args.part_size.as_deref().or(config_part_size) {
        Some(s) => parse_part_size(s)?,
        None => PartSize::Auto,
    };
    let storage_class = args
        .storage_class
        .as_deref()
        .map(check_storage_class)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(Checked {
        source,
        destination,
        options: CopyOptions {
            part_size,
            concurrency: args.concurrency.map(|n| n as usize),
            storage_class,
            verify: !args.no_verify,
            overwrite: if args.no_clobber {
                Overwrite::Skip
            } else {
                Overwrite::Always
            },
        },
    })
}

pub fn run(global: &GlobalArgs, args: Args) -> i32 {
    let setup = match setup(global) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let checked = match check_args(&args, setup.part_size.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    let rt = match runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    let mut engine = setup.engine.clone();
    if let Some(n) = args.concurrency {
        engine.concurrency = n as usize;
        engine.concurrency_per_job = n as usize;
    }
    if let Some(n) = args.jobs {
        engine.active_jobs = n as usize;
    }
    let out = Output::new(args.json, args.quiet);
    rt.block_on(async move {
        let specs = match specs(&setup, &checked, args.recursive).await {
            Ok(s) => s,
            Err(e) => return fail(exit::FAILED, e),
        };
        if specs.is_empty() {
            if !out.quiet && !out.json {
                println!("nothing to copy under {}", checked.source);
            }
            return exit::OK;
        }
        let store: Arc<dyn ObjectStore> = setup.client.clone();
        let mut handle = Engine::start(store, engine);
        let n = specs.len();
        for s in specs {
            let _ = handle.commands.send(Command::Enqueue(s));
        }
        let result = watch(&mut handle, Target::New(n), &out).await;
        result.exit_code(&out)
    })
}

/// The jobs to enqueue: one, or one per object under the prefix. A missing source fails here.
async fn specs(setup: &Setup, c: &Checked, recursive: bool) -> Result<Vec<CopySpec>, String> {
    let store = &*setup.client;
    let regions = Regions::new(setup.profile.region.clone());
    let never = CancellationToken::new();
    let policy = setup.engine.retry.clone();
    let region = match regions
        .resolve(store, &c.source.bucket, &policy, &never)
        .await
    {
        Ok(r) => r,
        Err(Stop::Failed { error, .. }) => {
            return Err(format!("source bucket {}: {error}", c.source.bucket))
        }
        Err(Stop::Stopped) => return Err("stopped".into()),
    };
    if !recursive {
        let obj = ObjectRef::new(c.source.bucket.clone(), region, c.source.key.clone());
        return match store.head_object(&obj).await {
            Ok(_) => Ok(vec![CopySpec {
                source: c.source.clone(),
                destination: c.destination.clone(),
                options: c.options.clone(),
            }]),
            Err(e) if e.is_not_found() => Err(format!(
                "the source {} does not exist: check the key (nothing was copied)",
                c.source
            )),
            Err(e) => Err(format!("cannot read the source {}: {e}", c.source)),
        };
    }
    let mut out = Vec::new();
    let mut req = ListObjectsRequest {
        prefix: c.source.key.clone(),
        delimiter: None,
        marker: None,
        max_keys: Some(1000),
    };
    loop {
        let page = store
            .list_objects(&c.source.bucket, &region, &req)
            .await
            .map_err(|e| format!("cannot list {}: {e}", c.source))?;
        for o in &page.objects {
            let Some(rest) = o.key.strip_prefix(&c.source.key) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            out.push(CopySpec {
                source: CosUri {
                    bucket: c.source.bucket.clone(),
                    key: o.key.clone(),
                },
                destination: CosUri {
                    bucket: c.destination.bucket.clone(),
                    key: format!("{}{rest}", c.destination.key),
                },
                options: c.options.clone(),
            });
        }
        let next = page
            .next_marker
            .clone()
            .or_else(|| page.objects.last().map(|o| o.key.clone()));
        if !page.is_truncated || next.is_none() || next == req.marker {
            break;
        }
        req.marker = next;
    }
    Ok(out)
}

/// How a command prints.
pub(crate) struct Output {
    pub json: bool,
    pub quiet: bool,
    pub tty: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Output {
        Output {
            json,
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }
}

/// Which jobs a watch follows.
pub(crate) enum Target {
    /// The next `n` jobs the engine adds as Queued (ours).
    New(usize),
    /// These journaled jobs.
    Ids(HashSet<JobId>),
}

#[derive(Debug, Default)]
pub(crate) struct WatchResult {
    pub finished: BTreeMap<JobId, (JobState, Option<Verification>)>,
    pub uploads: BTreeMap<JobId, String>,
    pub interrupted: bool,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl WatchResult {
    /// Prints the interruption advice and returns the exit code.
    pub fn exit_code(&self, out: &Output) -> i32 {
        if self.interrupted {
            for (id, (state, _)) in &self.finished {
                if *state == JobState::Cancelled {
                    if let Some(u) = self.uploads.get(id) {
                        eprintln!(
                            "haul: job {id} cancelled; upload {u} is kept.\n  resume:  haul jobs resume {id}\n  discard: haul jobs abort {id}"
                        );
                    }
                }
            }
            eprintln!("haul: interrupted");
            return exit::INTERRUPTED;
        }
        let failed = self
            .finished
            .values()
            .filter(|(s, _)| !matches!(s, JobState::Done | JobState::Skipped))
            .count();
        if !out.quiet && !out.json && self.finished.len() > 1 {
            let secs = self.elapsed.as_secs_f64().max(0.001);
            println!(
                "{} of {} objects copied ({} in {:.1}s, {}/s){}",
                self.finished.len() - failed,
                self.finished.len(),
                format_size(self.bytes),
                secs,
                format_size((self.bytes as f64 / secs) as u64),
                if failed > 0 {
                    format!(", {failed} failed")
                } else {
                    String::new()
                }
            );
        }
        if failed > 0 {
            exit::FAILED
        } else {
            exit::OK
        }
    }
}

fn redraw(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[2K{line}");
    let _ = e.flush();
}

fn clear(out: &Output) {
    if out.tty && !out.json && !out.quiet {
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K");
        let _ = e.flush();
    }
}

fn json_line(v: &serde_json::Value) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{v}");
    let _ = o.flush();
}

/// Renders events until every followed job ends (or Ctrl-C: cancel, journal, exit 130).
pub(crate) async fn watch(h: &mut EngineHandle, target: Target, out: &Output) -> WatchResult {
    let started = Instant::now();
    let mut progress = Progress::new(started);
    let (mut want, mut ours): (usize, HashSet<JobId>) = match target {
        Target::New(n) => (n, HashSet::new()),
        Target::Ids(ids) => (ids.len(), ids),
    };
    let follow_new = ours.is_empty();
    let mut specs: BTreeMap<JobId, CopySpec> = BTreeMap::new();
    let mut sizes: BTreeMap<JobId, u64> = BTreeMap::new();
    let mut result = WatchResult::default();
    let tick_every = if out.json {
        Duration::from_secs(2)
    } else if out.tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut shutdown_sent = false;
    loop {
        if !shutdown_sent && !result.interrupted && want > 0 && result.finished.len() >= want {
            let _ = h.commands.send(Command::Shutdown);
            shutdown_sent = true;
        }
        tokio::select! {
            ev = h.events.recv() => {
                let Some(ev) = ev else { break };
                let now = Instant::now();
                if let Event::JobAdded { id, spec, state } = &ev {
                    if follow_new && *state == JobState::Queued && ours.len() < want {
                        ours.insert(*id);
                    }
                    if ours.contains(id) {
                        specs.insert(*id, spec.clone());
                    }
                }
                let mine = match &ev {
                    Event::JobAdded { id, .. } | Event::JobPlanned { id, .. } | Event::JobState { id, .. }
                    | Event::JobFinished { id, .. } | Event::JobRemoved { id } => ours.contains(id),
                    Event::PartStarted { job, .. } | Event::PartDone { job, .. }
                    | Event::PartRetrying { job, .. } | Event::PartFailed { job, .. } => ours.contains(job),
                    _ => true,
                };
                if !mine {
                    continue;
                }
                progress.apply(&ev, now);
                if out.json {
                    if let Some(v) = json_event(&ev) {
                        json_line(&v);
                    }
                }
                match &ev {
                    Event::JobPlanned { id, plan } => {
                        sizes.insert(*id, plan.size);
                        if let Some(u) = &plan.upload_id {
                            result.uploads.insert(*id, u.clone());
                        }
                    }
                    Event::Log { level, message } if !out.json && (*level != crate::engine::LogLevel::Info || !out.quiet) => {
                        clear(out);
                        eprintln!("haul: {}: {message}", level_str(*level));
                    }
                    Event::JobFinished { id, state, verification } => {
                        if !result.interrupted || *state != JobState::Cancelled || !result.finished.contains_key(id) {
                            result.finished.insert(*id, (state.clone(), verification.clone()));
                        }
                        if *state == JobState::Done {
                            result.bytes += sizes.get(id).copied().unwrap_or(0);
                        }
                        if !out.json {
                            clear(out);
                            report_job(out, *id, specs.get(id), state, verification.as_ref(), sizes.get(id).copied());
                        }
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if out.json {
                    if progress.bytes_total() > 0 {
                        json_line(&progress.json(now));
                    }
                } else if !out.quiet && progress.bytes_total() > 0 {
                    if out.tty {
                        redraw(&progress.line(now));
                    } else {
                        eprintln!("{}", progress.line(now));
                    }
                }
            }
            _ = &mut ctrl_c, if !result.interrupted => {
                result.interrupted = true;
                clear(out);
                eprintln!("haul: interrupted: cancelling (uploads are kept and journaled); press Ctrl-C again to quit at once");
                let _ = h.commands.send(Command::Shutdown);
                want = 0;
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        std::process::exit(exit::INTERRUPTED);
                    }
                });
            }
        }
    }
    clear(out);
    result.elapsed = started.elapsed();
    result
}

fn report_job(
    out: &Output,
    id: JobId,
    spec: Option<&CopySpec>,
    state: &JobState,
    v: Option<&Verification>,
    size: Option<u64>,
) {
    let what = spec
        .map(|s| format!("{} → {}", s.source, s.destination))
        .unwrap_or_else(|| format!("job {id}"));
    match state {
        JobState::Failed(msg) => eprintln!("haul: failed {what}: {msg}"),
        JobState::Done if !out.quiet => println!(
            "copied {what} ({}); {}",
            format_size(size.unwrap_or(0)),
            v.map(verify::describe)
                .unwrap_or_else(|| "not verified".into())
        ),
        JobState::Skipped if !out.quiet => {
            println!("skipped {what}: the destination exists (--no-clobber)")
        }
        JobState::Aborted if !out.quiet => println!("aborted {what}"),
        _ => {}
    }
}

/// Where the journal lives for `haul jobs` (config, `$HAUL_STATE_DIR`, or the platform dir).
pub(crate) fn state_dir(global: &GlobalArgs) -> Result<PathBuf, String> {
    let settings = config::load(global.config.as_deref()).map_err(|e| e.to_string())?;
    settings
        .file
        .engine
        .state_dir
        .clone()
        .or_else(default_state_dir)
        .ok_or_else(|| "no state directory: set HAUL_STATE_DIR or [engine] state_dir".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    fn args(v: &[&str]) -> Args {
        let mut all = vec!["cp"];
        all.extend_from_slice(v);
        T::try_parse_from(all).unwrap().a
    }

    #[test]
    fn bad_input_is_refused_before_anything_happens() {
        let e = check_args(&args(&["cos://a-1250000000/k", "s3://x/y"]), None).unwrap_err();
        assert!(e.contains("destination"), "{e}");
        let e = check_args(
            &args(&["cos://a-1250000000/dir/", "cos://b-1250000000/"]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("--recursive"), "{e}");
        let e = check_args(
            &args(&["cos://a-1250000000/k", "cos://a-1250000000/k"]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("onto itself"), "{e}");
        let e = check_args(
            &args(&["cos://a-1250000000/k", "cos://a-1250000000/"]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("onto itself"), "{e}");
        let e = check_args(
            &args(&[
                "cos://a-1250000000/k",
                "cos://b-1250000000/k",
                "--part-size",
                "512KiB",
            ]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("1 MiB"), "{e}");
        let e = check_args(
            &args(&[
                "cos://a-1250000000/k",
                "cos://b-1250000000/k",
                "--storage-class",
                "GLACIER",
            ]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("STANDARD_IA"), "{e}");
        assert!(T::try_parse_from([
            "cp",
            "cos://a-1250000000/k",
            "cos://b-1250000000/k",
            "--concurrency",
            "0"
        ])
        .is_err());
    }

    #[test]
    fn destinations_are_derived_from_prefixes() {
        let c = check_args(
            &args(&["cos://a-1250000000/d/k.bin", "cos://b-1250000000/x/"]),
            None,
        )
        .unwrap();
        assert_eq!(c.destination.to_string(), "cos://b-1250000000/x/k.bin");
        let c = check_args(
            &args(&[
                "cos://a-1250000000/d",
                "cos://b-1250000000/x",
                "--recursive",
                "--part-size",
                "auto",
                "--storage-class",
                "standard_ia",
                "--no-clobber",
                "--no-verify",
            ]),
            None,
        )
        .unwrap();
        assert_eq!(c.source.key, "d/");
        assert_eq!(c.destination.key, "x/");
        assert_eq!(c.options.storage_class.as_deref(), Some("STANDARD_IA"));
        assert_eq!(c.options.overwrite, Overwrite::Skip);
        assert!(!c.options.verify);
        let c = check_args(
            &args(&["cos://a-1250000000/k", "cos://b-1250000000/k"]),
            Some("64MiB"),
        )
        .unwrap();
        assert_eq!(c.options.part_size, PartSize::Fixed(64 << 20));
    }
}
