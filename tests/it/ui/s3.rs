//! The TUI on an S3 profile (s3:// buckets, provider and endpoint on the bucket list, the
//! engine's refusal of a copy across stores) and the copy dialog's facts (regions, whether the
//! destination exists, the key-vs-prefix rule), asked of the engine without blocking.

use std::sync::Arc;
use std::time::Duration;

use haul::engine::{Engine, EngineConfig, EngineHandle, JobState};
use haul::store::s3::{S3Client, S3Options};
use haul::store::{Dialect, ObjectRef, ObjectStore};
use haul::ui::app::Dialog;

use super::*;
use crate::common;

const LABEL: &str = "provider s3 · endpoint http://127.0.0.1:9000";

fn s3_app() -> App {
    let mut o = opts();
    o.dialect = Dialect::S3;
    o.store_label = LABEL.into();
    let mut a = App::new(&o);
    a.resize(120, 30);
    a
}

fn s3_buckets() -> Vec<BucketInfo> {
    ["backup.example", "media"]
        .iter()
        .map(|n| BucketInfo {
            name: n.to_string(),
            region: "us-east-1".into(),
            created: odt(1_700_000_000),
        })
        .collect()
}

fn copy_dialog(a: &App) -> &haul::ui::dialogs::copy::CopyDialog {
    match &a.dialog {
        Some(Dialog::Copy(d)) => d,
        other => panic!("no copy dialog: {other:?}"),
    }
}

/// An S3 app inside s3://media/ with one page of objects.
fn s3_browsing() -> App {
    let mut a = s3_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(s3_buckets()))));
    let cmds = press(&mut a, &[key('j'), code(KeyCode::Enter)]);
    match &cmds[..] {
        [Command::Browse(BrowseRequest::Objects { bucket, .. })] => {
            assert_eq!(bucket.dialect(), Dialect::S3);
            assert_eq!(bucket.as_str(), "media");
        }
        other => panic!("unexpected {other:?}"),
    }
    a.on_event(Event::Listing(Listing::Objects {
        bucket: BucketName::parse_s3("media").unwrap(),
        prefix: String::new(),
        marker: None,
        page: Ok(objects_page("", 3, false)),
    }));
    a
}

#[test]
fn s3_profile_lists_s3_buckets_with_provider_and_endpoint_and_queues_s3_copies() {
    let mut a = s3_app();
    a.start();
    a.on_event(Event::Listing(Listing::Buckets(Ok(s3_buckets()))));
    let screen = render(&mut a, 120, 30);
    assert!(screen.contains(LABEL), "{screen}");
    assert!(screen.contains("backup.example"), "{screen}");

    let mut a = s3_browsing();
    let screen = render(&mut a, 120, 30);
    assert!(screen.contains("s3://media/"), "{screen}");
    // The first object to backup.example (the pick starts on the first other bucket).
    press(&mut a, &[key('j'), key('j'), key('c')]);
    let screen = render(&mut a, 120, 30);
    assert!(screen.contains("From s3://media/"), "{screen}");
    let cmds = press(&mut a, &[code(KeyCode::Enter), code(KeyCode::Enter)]);
    match &cmds[..] {
        [Command::Enqueue(s)] => {
            assert_eq!(s.source.to_string(), "s3://media/clip-00000.mov");
            assert_eq!(
                s.destination.to_string(),
                "s3://backup.example/clip-00000.mov"
            );
        }
        other => panic!("expected one copy, got {other:?}"),
    }
}

#[test]
fn copy_to_another_store_is_refused_with_the_engines_message_in_the_dialog() {
    let mut a = s3_browsing();
    press(&mut a, &[key('j'), key('j'), key('c')]);
    for c in "cos://backup-1250000000".chars() {
        a.handle_key(key(c));
    }
    // Live, before Enter: the engine's own check.
    let screen = render(&mut a, 120, 30);
    assert!(screen.contains("cannot be server-side"), "{screen}");
    let cmds = press(&mut a, &[code(KeyCode::Enter), code(KeyCode::Enter)]);
    assert!(cmds.is_empty(), "nothing is queued: {cmds:?}");
    let err = copy_dialog(&a).error.clone().unwrap_or_default();
    assert!(
        err.contains("different stores") && err.contains("cannot be server-side"),
        "{err}"
    );
}

#[test]
fn copy_dialog_asks_regions_and_existence_and_shows_the_answers() {
    let mut a = browsing();
    let cmds: Vec<Command> = [key('j'), key('j'), key('c')]
        .iter()
        .flat_map(|k| a.handle_key(*k))
        .collect();
    let asked: Vec<String> = cmds
        .iter()
        .map(|c| match c {
            Command::Browse(BrowseRequest::Region(b)) => format!("region {b}"),
            Command::Browse(BrowseRequest::Exists(u)) => format!("exists {u}"),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        asked,
        [
            "region media-1250000000",
            "region archive-1250000000",
            "exists cos://archive-1250000000/clip-00000.mov"
        ]
    );
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("Destination: checking…"), "{screen}");
    assert!(
        screen.contains("Key rule: ending in / → prefix + source's name"),
        "{screen}"
    );
    a.on_event(Event::Listing(Listing::Region {
        bucket: bucket("media-1250000000"),
        region: Ok("ap-shanghai".into()),
    }));
    a.on_event(Event::Listing(Listing::Region {
        bucket: bucket("archive-1250000000"),
        region: Ok("ap-beijing".into()),
    }));
    a.on_event(Event::Listing(Listing::Exists {
        uri: uri("cos://archive-1250000000/clip-00000.mov"),
        size: Ok(Some(1234)),
    }));
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("Regions: media-1250000000 ap-shanghai → archive-1250000000 ap-beijing"),
        "{screen}"
    );
    assert!(
        screen.contains("exists (1,234 bytes) — will be overwritten"),
        "{screen}"
    );
    // The overwrite option changes what is said; the same lookup is not asked again.
    let cmds: Vec<Command> = [code(KeyCode::Tab); 5]
        .iter()
        .chain([&key('l')])
        .flat_map(|k| a.handle_key(*k))
        .collect();
    assert!(cmds.is_empty(), "{cmds:?}");
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("will be skipped"), "{screen}");
    // Another key: asked once, and an object that is not there is "new".
    press(&mut a, &[code(KeyCode::BackTab); 4]);
    let cmds = a.handle_key(key('2'));
    match &cmds[..] {
        [Command::Browse(BrowseRequest::Exists(u))] => {
            assert_eq!(u.to_string(), "cos://archive-1250000000/clip-00000.mov2")
        }
        other => panic!("unexpected {other:?}"),
    }
    a.on_event(Event::Listing(Listing::Exists {
        uri: uri("cos://archive-1250000000/clip-00000.mov2"),
        size: Ok(None),
    }));
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("Destination: new"), "{screen}");
}

/// Sends `cmds` to the engine, then folds its events into the app (sending what they ask)
/// until `done` holds.
async fn pump(a: &mut App, h: &mut EngineHandle, cmds: Vec<Command>, done: impl Fn(&App) -> bool) {
    for c in cmds {
        h.commands.send(c).unwrap();
    }
    let r = tokio::time::timeout(Duration::from_secs(20), async {
        while !done(a) {
            let ev = h.events.recv().await.expect("the engine stopped");
            for c in a.on_event(ev) {
                h.commands.send(c).unwrap();
            }
        }
    })
    .await;
    assert!(r.is_ok(), "timed out; screen:\n{}", render(a, 160, 48));
}

#[tokio::test]
async fn tui_on_an_s3_profile_browses_and_copies_through_haul_serve_speaking_s3() {
    let server = common::start_server(common::args(&[
        "--object",
        "cos://alpha-1250000000/clip.mov=12MiB",
    ]))
    .await;
    let mut o = S3Options::new(common::credentials(&server), common::GZ);
    o.base.endpoint = Some(server.endpoint());
    let store = Arc::new(S3Client::new(o).unwrap());
    let mut h = Engine::start(
        store.clone(),
        EngineConfig {
            default_region: common::GZ.into(),
            ..EngineConfig::default()
        },
    );
    let mut ui = opts();
    ui.dialect = Dialect::S3;
    ui.store_label = format!("provider s3 · endpoint {}", server.endpoint());
    let mut a = App::new(&ui);
    a.resize(160, 48);

    let cmds = a.start();
    pump(&mut a, &mut h, cmds, |a| !a.browse.buckets.loading).await;
    let screen = render(&mut a, 160, 48);
    assert!(screen.contains("alpha-1250000000"), "{screen}");
    assert!(screen.contains(&ui.store_label), "{screen}");

    let cmds = press(&mut a, &[code(KeyCode::Enter)]);
    pump(&mut a, &mut h, cmds, |a| {
        a.browse.stack.last().is_some_and(|l| !l.rows.is_empty())
    })
    .await;
    // The copy dialog on clip.mov, to beta (the first other bucket): regions and existence
    // come from the engine as events.
    let cmds: Vec<Command> = [key('c')].iter().flat_map(|k| a.handle_key(*k)).collect();
    pump(&mut a, &mut h, cmds, |a| {
        let d = copy_dialog(a);
        d.regions.values().all(|r| r.is_some()) && d.exists.values().all(|r| r.is_some())
    })
    .await;
    let screen = render(&mut a, 160, 48);
    assert!(
        screen.contains("alpha-1250000000 ap-guangzhou → beta-1250000000 ap-shanghai"),
        "{screen}"
    );
    assert!(screen.contains("Destination: new"), "{screen}");

    let cmds = press(&mut a, &[code(KeyCode::Enter), code(KeyCode::Enter)]);
    assert!(matches!(&cmds[..], [Command::Enqueue(_)]), "{cmds:?}");
    pump(&mut a, &mut h, cmds, |a| {
        a.jobs.values().any(|j| j.state == JobState::Done)
    })
    .await;
    let job = a.jobs.values().next().unwrap();
    assert_eq!(
        job.spec.destination.to_string(),
        "s3://beta-1250000000/clip.mov"
    );
    let copied = store
        .head_object(&ObjectRef::new(
            BucketName::parse_s3("beta-1250000000").unwrap(),
            common::SH.to_string(),
            "clip.mov".to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(copied.size, 12 << 20);
    let _ = h.commands.send(Command::Shutdown);
    server.shutdown().await;
}
