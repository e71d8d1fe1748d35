//! `haul cp`: one copy request — an object, or a prefix or bucket with --recursive — run
//! server-side as one transfer, headless.
//!
//! A front end: checks arguments with the engine's own `request::check` (exit 2 before
//! anything is created), enqueues one transfer and renders its events (`watch`). The engine
//! lists the prefix, streaming it into the copies; this command never lists to copy.

use std::sync::Arc;

use super::shared::{headless_runtime, setup_for, Output};
use super::watch::{watch, Target};
use super::{exit, fail, GlobalArgs};
use crate::engine::request::{self, parse_part_size, CopyRequest};
use crate::engine::{Command, CopyOptions, CopySpec, Engine, Overwrite, PartSize};
use crate::store::{CosUri, ObjectStore};

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
    /// Copy requests in flight at once (part copies and small-object copies; default 64).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<String>,
    /// Multipart (large) objects copied at once with --recursive (default 4); small objects
    /// are limited by --concurrency alone.
    #[arg(long, value_name = "N")]
    pub jobs: Option<String>,
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

/// Everything checkable without the network, by the engine's own rules.
pub(crate) fn check_args(
    args: &Args,
    config_part_size: Option<PartSize>,
) -> Result<CopySpec, String> {
    let source = CosUri::parse(&args.source).map_err(|e| format!("source: {e}"))?;
    let destination = CosUri::parse(&args.destination).map_err(|e| format!("destination: {e}"))?;
    let part_size = match args.part_size.as_deref() {
        Some(s) => parse_part_size("--part-size", s).map_err(|e| e.to_string())?,
        None => config_part_size.unwrap_or_default(),
    };
    let storage_class = args
        .storage_class
        .as_deref()
        .map(|s| request::parse_storage_class_in(source.dialect(), "--storage-class", s))
        .transpose()
        .map_err(|e| e.to_string())?;
    let concurrency = args
        .concurrency
        .as_deref()
        .map(|s| request::parse_concurrency("--concurrency", s))
        .transpose()
        .map_err(|e| e.to_string())?;
    request::check(CopyRequest {
        source,
        destination,
        recursive: args.recursive,
        options: CopyOptions {
            part_size,
            concurrency,
            storage_class,
            verify: !args.no_verify,
            overwrite: if args.no_clobber {
                Overwrite::Skip
            } else {
                Overwrite::Always
            },
        },
        known_size: None,
    })
    .map_err(|e| e.to_string())
}

pub fn run(global: &GlobalArgs, args: Args) -> i32 {
    // The source's scheme picks the profile's dialect. A copy between cos:// and s3:// is
    // refused before any profile is read: no credentials could make it server-side.
    let dialect = CosUri::parse(&args.source).ok().map(|u| u.dialect());
    let other = CosUri::parse(&args.destination).ok().map(|u| u.dialect());
    if dialect.is_some() && other.is_some() && dialect != other {
        if let Err(e) = check_args(&args, None) {
            return fail(exit::USAGE, e);
        }
    }
    let setup = match setup_for(global, dialect) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let spec = match check_args(&args, setup.part_size) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    let jobs = match args.jobs.as_deref() {
        Some(s) => match request::parse_concurrency("--jobs", s) {
            Ok(n) => Some(n),
            Err(e) => return fail(exit::USAGE, e),
        },
        None => None,
    };
    let rt = match headless_runtime() {
        Ok(r) => r,
        Err(e) => return fail(exit::FAILED, e),
    };
    let mut engine = setup.engine.clone();
    if let Some(n) = spec.options.concurrency {
        engine.concurrency = n;
        engine.concurrency_per_job = n;
    }
    if let Some(n) = jobs {
        engine.active_objects = n;
    }
    let out = Output::new(args.json, args.quiet);
    rt.block_on(async move {
        let store: Arc<dyn ObjectStore> = setup.client.clone();
        let mut handle = Engine::start(store, engine);
        let _ = handle.commands.send(Command::Enqueue(spec));
        let result = watch(&mut handle, Target::New(1), &out).await;
        result.exit_code()
    })
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
        let e = check_args(
            &args(&[
                "cos://a-1250000000/k",
                "cos://b-1250000000/k",
                "--concurrency",
                "0",
            ]),
            None,
        )
        .unwrap_err();
        assert!(
            e.contains("--concurrency must be a whole number from 1 to 1024"),
            "{e}"
        );
        let e = check_args(
            &args(&["cos://a-1250000000/d/", "cos://a-1250000000/d/in/", "-r"]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("inside the source"), "{e}");
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
            Some(PartSize::Fixed(64 << 20)),
        )
        .unwrap();
        assert_eq!(c.options.part_size, PartSize::Fixed(64 << 20));
    }
}
