//! Copy requests: the one routine that turns what a front end asks for (an object, a prefix or
//! a bucket, a destination, options) into a `CopySpec`, or says what is wrong and how to fix
//! it. The CLI, the TUI's copy dialog and the config all check through here, and the engine
//! checks again on `Enqueue`, so no front end can queue what another would refuse.
//!
//! Pure: no I/O.

use crate::store::{CosUri, Dialect};
use crate::units::parse_size;

use super::plan::{self, PlanError, MAX_PARTS};
use super::{CopyOptions, CopySpec, PartSize};

/// Requests in flight a user may ask for (globally or per transfer).
pub const MAX_CONCURRENCY: usize = 1024;
/// S3's smallest part (all but the last); COS takes 1 MiB.
pub const S3_MIN_PART_SIZE: u64 = 5 << 20;
/// S3's largest object (COS takes 48.82 TB).
pub const S3_MAX_OBJECT_SIZE: u64 = 5 << 40;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0} would be copied onto itself: choose another destination")]
    OntoItself(String),
    #[error("the destination {to} is inside the source {from}: the copies would be listed and copied again; choose a destination outside it")]
    InsideSource { from: String, to: String },
    #[error("{from} and {to} are in different stores ({} and {}): a copy between two providers or endpoints cannot be server-side, and haul copies only server-side (it never downloads and uploads); copy within one store", .from_dialect.scheme(), .to_dialect.scheme())]
    AcrossStores {
        from: String,
        to: String,
        from_dialect: Dialect,
        to_dialect: Dialect,
    },
    #[error("part size {0} is under S3's 5 MiB minimum for every part but the last: use auto or at least 5MiB")]
    S3PartTooSmall(u64),
    #[error("the source is {0} bytes, over S3's 5 TiB object limit: it cannot be copied in the S3 dialect")]
    S3TooLarge(u64),
    #[error("{what}: {given:?} is not an S3 storage class: use one of {}", crate::store::s3::STORAGE_CLASSES.join(", "))]
    S3StorageClass { what: &'static str, given: String },
    #[error("{0} is a prefix: copy it recursively (haul cp --recursive) or name one object")]
    PrefixWithoutRecursive(String),
    #[error("{what} must be a whole number from 1 to {MAX_CONCURRENCY}, not {given}")]
    Concurrency { what: &'static str, given: String },
    #[error("{what}: {error}")]
    Plan {
        what: &'static str,
        error: PlanError,
    },
    #[error("{what}: {error}; use auto or a size such as 256MiB")]
    BadSize { what: &'static str, error: String },
}

/// What a front end asks for, before it is checked.
#[derive(Debug, Clone)]
pub struct CopyRequest {
    pub source: CosUri,
    pub destination: CosUri,
    /// Copy every object under the source (a prefix; the whole bucket when its key is empty).
    pub recursive: bool,
    pub options: CopyOptions,
    /// The source's size when the front end knows it (the part count is then checked too).
    pub known_size: Option<u64>,
}

/// Checks and normalises a request: a recursive source and its destination become prefixes
/// (`…/`), an object copied to a prefix keeps its name, and every option is within COS's
/// limits.
pub fn check(req: CopyRequest) -> Result<CopySpec, RequestError> {
    let CopyRequest {
        mut source,
        mut destination,
        recursive,
        options,
        known_size,
    } = req;
    // One engine talks to one store: cos:// and s3:// are different endpoints (and an S3
    // profile's one endpoint serves every s3:// URI of the copy).
    if source.dialect() != destination.dialect() {
        return Err(RequestError::AcrossStores {
            from: source.to_string(),
            to: destination.to_string(),
            from_dialect: source.dialect(),
            to_dialect: destination.dialect(),
        });
    }
    if let (Dialect::S3, PartSize::Fixed(p)) = (source.dialect(), options.part_size) {
        if p < S3_MIN_PART_SIZE {
            return Err(RequestError::S3PartTooSmall(p));
        }
    }
    if let (Dialect::S3, Some(size)) = (source.dialect(), known_size) {
        if size > S3_MAX_OBJECT_SIZE {
            return Err(RequestError::S3TooLarge(size));
        }
    }
    if recursive {
        as_prefix(&mut source);
        as_prefix(&mut destination);
        if source == destination {
            return Err(RequestError::OntoItself(source.to_string()));
        }
        if source.bucket == destination.bucket && destination.key.starts_with(&source.key) {
            return Err(RequestError::InsideSource {
                from: source.to_string(),
                to: destination.to_string(),
            });
        }
    } else {
        if source.is_prefix() {
            return Err(RequestError::PrefixWithoutRecursive(source.to_string()));
        }
        if destination.is_prefix() {
            let name = source.key.rsplit('/').next().unwrap_or(&source.key);
            destination.key.push_str(name);
        }
        if source == destination {
            return Err(RequestError::OntoItself(source.to_string()));
        }
    }
    check_options_in(
        source.dialect(),
        &options,
        known_size.filter(|_| !recursive),
    )?;
    Ok(CopySpec {
        source,
        destination,
        options,
    })
}

fn as_prefix(uri: &mut CosUri) {
    if !uri.key.is_empty() && !uri.key.ends_with('/') {
        uri.key.push('/');
    }
}

/// The options on their own (and the part count when the size is known), for COS.
pub fn check_options(o: &CopyOptions, known_size: Option<u64>) -> Result<(), RequestError> {
    check_options_in(Dialect::Cos, o, known_size)
}

/// `check_options` in one dialect: the storage class is checked against that dialect's list.
pub fn check_options_in(
    dialect: Dialect,
    o: &CopyOptions,
    known_size: Option<u64>,
) -> Result<(), RequestError> {
    if let PartSize::Fixed(p) = o.part_size {
        plan::check_part_size(p).map_err(|error| RequestError::Plan {
            what: "part size",
            error,
        })?;
        if let Some(size) = known_size {
            let parts = size.div_ceil(p);
            if parts > MAX_PARTS && size > plan::MAX_SINGLE_COPY {
                return Err(RequestError::Plan {
                    what: "part size",
                    error: PlanError::TooManyParts {
                        size,
                        part_size: p,
                        parts,
                        min: plan::min_part_size(size),
                    },
                });
            }
        }
    }
    if let Some(n) = o.concurrency {
        check_concurrency("concurrency", n)?;
    }
    if let Some(c) = &o.storage_class {
        parse_storage_class_in(dialect, "storage class", c)?;
    }
    Ok(())
}

/// A request limit from a user: 1 ..= `MAX_CONCURRENCY`.
pub fn check_concurrency(what: &'static str, n: usize) -> Result<usize, RequestError> {
    if (1..=MAX_CONCURRENCY).contains(&n) {
        Ok(n)
    } else {
        Err(RequestError::Concurrency {
            what,
            given: n.to_string(),
        })
    }
}

/// Parses a request limit typed by a user.
pub fn parse_concurrency(what: &'static str, s: &str) -> Result<usize, RequestError> {
    match s.trim().parse::<usize>() {
        Ok(n) => check_concurrency(what, n),
        Err(_) => Err(RequestError::Concurrency {
            what,
            given: format!("{s:?}"),
        }),
    }
}

/// Parses `auto` or a size (`256MiB`) and checks it against COS's part limits.
pub fn parse_part_size(what: &'static str, s: &str) -> Result<PartSize, RequestError> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(PartSize::Auto);
    }
    let n = parse_size(s).map_err(|error| RequestError::BadSize { what, error })?;
    plan::check_part_size(n).map_err(|error| RequestError::Plan { what, error })?;
    Ok(PartSize::Fixed(n))
}

/// Normalises a storage class name typed by a user (COS's classes).
pub fn parse_storage_class(what: &'static str, s: &str) -> Result<String, RequestError> {
    plan::check_storage_class(s).map_err(|error| RequestError::Plan { what, error })
}

/// `parse_storage_class` in one dialect: COS's classes, or S3's (`x-amz-storage-class`).
pub fn parse_storage_class_in(
    dialect: Dialect,
    what: &'static str,
    s: &str,
) -> Result<String, RequestError> {
    match dialect {
        Dialect::Cos => parse_storage_class(what, s),
        Dialect::S3 => {
            let upper = s.trim().to_ascii_uppercase();
            if crate::store::s3::STORAGE_CLASSES.contains(&upper.as_str()) {
                Ok(upper)
            } else {
                Err(RequestError::S3StorageClass {
                    what,
                    given: s.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{GIB, MIB};

    fn uri(s: &str) -> CosUri {
        CosUri::parse(s).unwrap()
    }

    #[test]
    fn a_copy_between_cos_and_s3_is_refused_as_not_server_side() {
        for (from, to) in [
            ("cos://a-1250000000/k", "s3://b-bucket/k"),
            ("s3://a-bucket/k", "cos://b-1250000000/k"),
        ] {
            let e = check(CopyRequest {
                source: uri(from),
                destination: uri(to),
                recursive: false,
                options: CopyOptions::default(),
                known_size: None,
            })
            .unwrap_err();
            assert!(matches!(e, RequestError::AcrossStores { .. }), "{e}");
            assert!(e.to_string().contains("cannot be server-side"), "{e}");
        }
        let ok = check(CopyRequest {
            source: uri("s3://a-bucket/k"),
            destination: uri("s3://b-bucket/"),
            recursive: false,
            options: CopyOptions::default(),
            known_size: None,
        })
        .unwrap();
        assert_eq!(ok.destination.to_string(), "s3://b-bucket/k");
    }

    #[test]
    fn s3_refuses_parts_under_five_mib_that_cos_takes() {
        let opts = CopyOptions {
            part_size: PartSize::Fixed(2 << 20),
            ..CopyOptions::default()
        };
        let req = |from: &str, to: &str| CopyRequest {
            source: uri(from),
            destination: uri(to),
            recursive: false,
            options: opts.clone(),
            known_size: None,
        };
        assert!(matches!(
            check(req("s3://a-bucket/k", "s3://b-bucket/k")),
            Err(RequestError::S3PartTooSmall(_))
        ));
        assert!(check(req("cos://a-1250000000/k", "cos://b-1250000000/k")).is_ok());
        let huge = CopyRequest {
            known_size: Some(S3_MAX_OBJECT_SIZE + 1),
            options: CopyOptions::default(),
            ..req("s3://a-bucket/k", "s3://b-bucket/k")
        };
        assert!(matches!(check(huge), Err(RequestError::S3TooLarge(_))));
    }

    #[test]
    fn storage_classes_are_checked_against_the_dialects_own_list() {
        let with = |from: &str, to: &str, class: &str| CopyRequest {
            source: uri(from),
            destination: uri(to),
            recursive: false,
            options: CopyOptions {
                storage_class: Some(class.into()),
                ..CopyOptions::default()
            },
            known_size: None,
        };
        assert!(check(with("s3://a-bucket/k", "s3://b-bucket/k", "GLACIER_IR")).is_ok());
        let e = check(with("s3://a-bucket/k", "s3://b-bucket/k", "ARCHIVE")).unwrap_err();
        assert!(e.to_string().contains("not an S3 storage class"), "{e}");
        assert!(check(with(
            "cos://a-1250000000/k",
            "cos://b-1250000000/k",
            "ARCHIVE"
        ))
        .is_ok());
        assert!(check(with(
            "cos://a-1250000000/k",
            "cos://b-1250000000/k",
            "GLACIER_IR"
        ))
        .is_err());
        assert_eq!(
            parse_storage_class_in(Dialect::S3, "s", "onezone_ia").unwrap(),
            "ONEZONE_IA"
        );
    }

    fn req(src: &str, dst: &str, recursive: bool) -> CopyRequest {
        CopyRequest {
            source: uri(src),
            destination: uri(dst),
            recursive,
            options: CopyOptions::default(),
            known_size: None,
        }
    }

    fn keys(r: CopyRequest) -> Result<(String, String), String> {
        check(r)
            .map(|s| (s.source.to_string(), s.destination.to_string()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_validation_table() {
        let a = "cos://a-1250000000";
        let b = "cos://b-1250000000";
        let ok = |src: &str, dst: &str, rec: bool, want: (&str, &str)| {
            assert_eq!(
                keys(req(src, dst, rec)),
                Ok((want.0.to_string(), want.1.to_string())),
                "{src} -> {dst} (recursive {rec})"
            );
        };
        let err = |src: &str, dst: &str, rec: bool, want: &str| {
            let e = keys(req(src, dst, rec)).unwrap_err();
            assert!(
                e.contains(want),
                "{src} -> {dst} (recursive {rec}): {e:?} lacks {want:?}"
            );
        };
        ok(
            &format!("{a}/x/f.bin"),
            &format!("{b}/y/"),
            false,
            (&format!("{a}/x/f.bin"), &format!("{b}/y/f.bin")),
        );
        ok(
            &format!("{a}/x/f.bin"),
            &format!("{b}/z.bin"),
            false,
            (&format!("{a}/x/f.bin"), &format!("{b}/z.bin")),
        );
        ok(
            &format!("{a}/x"),
            &format!("{b}/y"),
            true,
            (&format!("{a}/x/"), &format!("{b}/y/")),
        );
        ok(
            &format!("{a}/"),
            &format!("{b}/"),
            true,
            (&format!("{a}/"), &format!("{b}/")),
        );
        ok(
            &format!("{a}/x/"),
            &format!("{a}/y/"),
            true,
            (&format!("{a}/x/"), &format!("{a}/y/")),
        );
        ok(
            &format!("{a}/x/sub/"),
            &format!("{a}/x/"),
            true,
            (&format!("{a}/x/sub/"), &format!("{a}/x/")),
        );
        err(
            &format!("{a}/x/f"),
            &format!("{a}/x/f"),
            false,
            "onto itself",
        );
        err(
            &format!("{a}/x/f"),
            &format!("{a}/x/"),
            false,
            "onto itself",
        );
        err(&format!("{a}/x/"), &format!("{a}/x"), true, "onto itself");
        err(
            &format!("{a}/x/"),
            &format!("{a}/x/sub/"),
            true,
            "inside the source",
        );
        err(
            &format!("{a}/"),
            &format!("{a}/copy/"),
            true,
            "inside the source",
        );
        err(&format!("{a}/x/"), &format!("{b}/y/"), false, "is a prefix");
    }

    #[test]
    fn options_are_checked_against_cos_limits() {
        let with = |o: CopyOptions, size| {
            check(CopyRequest {
                options: o,
                known_size: size,
                ..req("cos://a-1250000000/f", "cos://b-1250000000/f", false)
            })
            .map_err(|e| e.to_string())
        };
        let part = |p| CopyOptions {
            part_size: PartSize::Fixed(p),
            ..CopyOptions::default()
        };
        assert!(with(part(3 * MIB), Some(10 * GIB)).is_ok());
        let e = with(part(MIB), Some(40 * GIB)).unwrap_err();
        assert!(e.contains("more than COS's 10,000"), "{e}");
        assert!(
            with(part(MIB), None).is_ok(),
            "unknown size: checked per object"
        );
        assert!(with(part(MIB / 2), None).unwrap_err().contains("1 MiB"));
        assert!(with(part(6 * GIB), None).unwrap_err().contains("5 GiB"));
        let conc = |n| CopyOptions {
            concurrency: Some(n),
            ..CopyOptions::default()
        };
        assert!(with(conc(1), None).is_ok());
        assert!(with(conc(MAX_CONCURRENCY), None).is_ok());
        assert!(with(conc(0), None).unwrap_err().contains("from 1 to 1024"));
        assert!(with(conc(MAX_CONCURRENCY + 1), None).is_err());
        let class = CopyOptions {
            storage_class: Some("COLD".into()),
            ..CopyOptions::default()
        };
        assert!(with(class, None)
            .unwrap_err()
            .contains("unknown storage class"));
    }

    #[test]
    fn typed_values_parse_or_say_why() {
        assert_eq!(parse_part_size("p", "auto"), Ok(PartSize::Auto));
        assert_eq!(parse_part_size("p", "8MiB"), Ok(PartSize::Fixed(8 * MIB)));
        let e = parse_part_size("[engine] part_size", "abc")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("[engine] part_size: "), "{e}");
        assert_eq!(parse_concurrency("c", " 64 "), Ok(64));
        let e = parse_concurrency("--concurrency", "lots")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--concurrency") && e.contains("\"lots\""), "{e}");
        assert_eq!(
            parse_storage_class("s", "standard_ia"),
            Ok("STANDARD_IA".into())
        );
    }
}
