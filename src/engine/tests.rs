//! Engine behaviour under the test double (`testing::MemStore`) and tokio's paused clock:
//! limits, pause / cancel / abort, retries, throttling, journal and resume, fairness.

use std::sync::Arc;
use std::time::Duration;

use super::testing::{service_error, MemStore};
use super::*;
use crate::store::{CosUri, Op};

const SRC: &str = "src-1250000000";
const DST: &str = "dst-1250000000";
const MIB: u64 = 1 << 20;

fn store() -> Arc<MemStore> {
    let s = MemStore::new();
    s.add_bucket(SRC, "ap-guangzhou");
    s.add_bucket(DST, "ap-shanghai");
    s.set_part_delay(Duration::from_millis(100));
    s
}

fn config() -> EngineConfig {
    EngineConfig {
        concurrency: 8,
        concurrency_per_job: 4,
        active_jobs: 4,
        single_copy_threshold: 4 * MIB,
        default_region: "ap-guangzhou".into(),
        ..Default::default()
    }
}

fn spec(key: &str, part_size: u64) -> CopySpec {
    CopySpec {
        source: CosUri::parse(&format!("cos://{SRC}/{key}")).unwrap(),
        destination: CosUri::parse(&format!("cos://{DST}/{key}")).unwrap(),
        options: CopyOptions {
            part_size: PartSize::Fixed(part_size),
            ..Default::default()
        },
    }
}

/// Collects events until `pred` holds for one (returned last). Panics after 10 virtual hours.
async fn until(
    h: &mut EngineHandle,
    seen: &mut Vec<Event>,
    pred: impl Fn(&Event) -> bool,
) -> Event {
    let deadline = tokio::time::sleep(Duration::from_secs(36_000));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            ev = h.events.recv() => {
                let ev = ev.expect("engine stopped before the awaited event");
                seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
            _ = &mut deadline => panic!("timed out; events: {seen:#?}"),
        }
    }
}

fn finished(id: JobId) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::JobFinished { id: i, .. } if *i == id)
}

fn part_done(e: &Event) -> bool {
    matches!(e, Event::PartDone { .. })
}

/// Any job entering `state`.
fn became(state: JobState) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::JobState { state: s, .. } if *s == state)
}

fn parts_done(seen: &[Event], id: JobId) -> usize {
    seen.iter()
        .filter(|e| matches!(e, Event::PartDone { job, .. } if *job == id))
        .count()
}

fn final_state(ev: &Event) -> (JobState, Option<Verification>) {
    match ev {
        Event::JobFinished {
            state,
            verification,
            ..
        } => (state.clone(), verification.clone()),
        other => panic!("not a JobFinished: {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn multipart_copy_completes_verifies_and_carries_headers() {
    let s = store();
    let src = s.put(SRC, "big", 50 * MIB + 3, 1);
    let mut h = Engine::start(s.clone(), config());
    h.commands
        .send(Command::Enqueue(spec("big", 8 * MIB)))
        .unwrap();
    let mut seen = vec![];
    let (state, v) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    let v = v.unwrap();
    assert!(
        v.size_matched && v.crc64_matched == Some(true) && !v.skipped,
        "{v:?}"
    );
    let dst = s.object(DST, "big").unwrap();
    assert_eq!((dst.size, dst.crc64), (src.size, src.crc64));
    assert_eq!(dst.headers.content_type, src.headers.content_type);
    assert_eq!(dst.storage_class, "STANDARD");
    assert_eq!(s.count(Op::UploadPartCopy), 7);
    assert_eq!(parts_done(&seen, 1), 7);
    let bytes: u64 = seen
        .iter()
        .filter_map(|e| match e {
            Event::PartDone { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .sum();
    assert_eq!(bytes, src.size, "PartDone bytes add up to the object");
    assert!(s.upload_ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn small_object_is_one_put_copy() {
    let s = store();
    s.put(SRC, "small", 4 * MIB, 2);
    let mut h = Engine::start(s.clone(), config());
    h.commands
        .send(Command::Enqueue(spec("small", 8 * MIB)))
        .unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(s.count(Op::PutObjectCopy), 1);
    assert_eq!(s.count(Op::InitiateMultipartUpload), 0);
}

#[tokio::test(start_paused = true)]
async fn never_more_parts_in_flight_than_allowed_even_after_a_change() {
    let s = store();
    for k in ["a", "b", "c"] {
        s.put(SRC, k, 60 * MIB, 3);
    }
    let mut cfg = config();
    cfg.concurrency = 5;
    cfg.concurrency_per_job = 3;
    let mut h = Engine::start(s.clone(), cfg);
    for k in ["a", "b", "c"] {
        h.commands.send(Command::Enqueue(spec(k, MIB))).unwrap();
    }
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    assert_eq!(
        s.max_in_flight(),
        5,
        "the global limit is used and not exceeded"
    );
    for u in s.upload_ids() {
        assert!(s.max_in_flight_for(&u) <= 3, "per-job limit");
    }
    h.commands
        .send(Command::SetConcurrency { job: None, n: 2 })
        .unwrap();
    h.commands
        .send(Command::SetConcurrency { job: Some(1), n: 1 })
        .unwrap();
    // Let the parts already in flight finish, then watch.
    tokio::time::sleep(Duration::from_millis(150)).await;
    for _ in 0..100 {
        assert!(
            s.in_flight() <= 2,
            "in flight {} after lowering to 2",
            s.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    for id in 1..=3 {
        let (state, _) = final_state(&until(&mut h, &mut seen, finished(id)).await);
        assert_eq!(state, JobState::Done);
    }
}

#[tokio::test(start_paused = true)]
async fn pause_starts_nothing_new_and_resume_finishes() {
    let s = store();
    s.put(SRC, "p", 40 * MIB, 4);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("p", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Pause(1)).unwrap();
    until(&mut h, &mut seen, became(JobState::Paused)).await;
    tokio::time::sleep(Duration::from_millis(150)).await; // in-flight parts finish
    let calls = s.count(Op::UploadPartCopy);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        s.count(Op::UploadPartCopy),
        calls,
        "no part started while paused"
    );
    assert_eq!(s.in_flight(), 0);
    h.commands.send(Command::Resume(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(s.count(Op::UploadPartCopy), 40);
}

#[tokio::test(start_paused = true)]
async fn cancel_keeps_the_upload_and_sends_no_abort() {
    let s = store();
    s.put(SRC, "c", 40 * MIB, 5);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("c", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Cancel(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Cancelled);
    assert_eq!(s.count(Op::AbortMultipartUpload), 0);
    assert_eq!(s.upload_ids().len(), 1, "the upload stays on the server");
    assert_eq!(s.in_flight(), 0, "in-flight requests were cancelled");
    assert!(s.object(DST, "c").is_none());
    // It resumes and re-copies no part the server has.
    let had = s.upload_part_numbers(&s.upload_ids()[0]);
    let before = s.part_calls().len();
    h.commands.send(Command::Resume(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    let again = &s.part_calls()[before..];
    assert!(
        again.iter().all(|p| !had.contains(p)),
        "re-copied a finished part"
    );
    assert_eq!(again.len() + had.len(), 40);
}

#[tokio::test(start_paused = true)]
async fn abort_sends_exactly_one_abort_even_when_asked_twice_mid_flight() {
    let s = store();
    s.put(SRC, "x", 40 * MIB, 6);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("x", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, |e| {
        matches!(e, Event::PartStarted { part: 6, .. })
    })
    .await;
    assert!(s.in_flight() > 0);
    h.commands.send(Command::Abort(1)).unwrap();
    h.commands.send(Command::Abort(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Aborted);
    h.commands.send(Command::Abort(1)).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.count(Op::AbortMultipartUpload), 1);
    assert!(s.upload_ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn abort_after_cancel_aborts_the_kept_upload_once() {
    let s = store();
    s.put(SRC, "y", 40 * MIB, 7);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("y", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Cancel(1)).unwrap();
    h.commands.send(Command::Abort(1)).unwrap();
    h.commands.send(Command::Abort(1)).unwrap();
    until(&mut h, &mut seen, |e| {
        matches!(
            e,
            Event::JobFinished {
                state: JobState::Aborted,
                ..
            }
        )
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.count(Op::AbortMultipartUpload), 1);
    assert!(s.upload_ids().is_empty());
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_a_bounded_number_of_times_and_the_upload_kept() {
    let s = store();
    s.put(SRC, "t", 20 * MIB, 8);
    s.set_fault(|c| {
        (c.op == Op::UploadPartCopy && c.part == Some(2))
            .then(|| service_error(Op::UploadPartCopy, 500, "InternalError"))
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("t", MIB))).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(
        msg.contains("part 2") && msg.contains("haul jobs resume 1"),
        "{msg}"
    );
    assert_eq!(s.part_calls().iter().filter(|p| **p == 2).count(), 8);
    let retrying = seen
        .iter()
        .filter(|e| matches!(e, Event::PartRetrying { part: 2, .. }))
        .count();
    assert_eq!(retrying, 7);
    assert_eq!(
        s.count(Op::AbortMultipartUpload),
        0,
        "a failed job keeps its upload"
    );
    assert_eq!(s.upload_ids().len(), 1);
    // Retry resumes it once the fault is gone.
    s.clear_fault();
    h.commands.send(Command::Retry(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let s = store();
    s.put(SRC, "d", 20 * MIB, 9);
    s.set_fault(|c| {
        (c.op == Op::UploadPartCopy && c.part == Some(3))
            .then(|| service_error(Op::UploadPartCopy, 403, "AccessDenied"))
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("d", MIB))).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert!(matches!(state, JobState::Failed(_)));
    assert_eq!(s.part_calls().iter().filter(|p| **p == 3).count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_source_change_mid_copy_fails_the_job_and_aborts_the_upload() {
    let s = store();
    s.put(SRC, "m", 40 * MIB, 10);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("m", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    s.change_etag(SRC, "m");
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(msg.contains("changed during the copy"), "{msg}");
    assert_eq!(s.count(Op::AbortMultipartUpload), 1);
    assert!(s.upload_ids().is_empty());
    assert!(s.object(DST, "m").is_none(), "nothing at the destination");
}

#[tokio::test(start_paused = true)]
async fn clock_skew_corrects_the_clock_and_retries() {
    let s = store();
    s.put(SRC, "k", 20 * MIB, 11);
    let mut skewed = false;
    s.set_fault(move |c| {
        if c.op == Op::UploadPartCopy && !skewed {
            skewed = true;
            return Some(service_error(
                Op::UploadPartCopy,
                403,
                "RequestTimeTooSkewed",
            ));
        }
        None
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("k", MIB))).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(s.clock_corrections(), 1);
}

#[tokio::test(start_paused = true)]
async fn slowdown_halves_the_effective_limit_and_successes_restore_it() {
    let s = store();
    s.put(SRC, "s", 300 * MIB, 12);
    let mut n = 0;
    s.set_fault(move |c| {
        if c.op == Op::UploadPartCopy {
            n += 1;
            if (10..16).contains(&n) {
                return Some(service_error(Op::UploadPartCopy, 503, "SlowDown"));
            }
        }
        None
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands
        .send(Command::Enqueue(CopySpec {
            options: CopyOptions {
                concurrency: Some(8),
                ..spec("s", MIB).options
            },
            ..spec("s", MIB)
        }))
        .unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    let effective: Vec<usize> = seen
        .iter()
        .filter_map(|e| match e {
            Event::Concurrency {
                effective,
                job: None,
                ..
            } => Some(*effective),
            _ => None,
        })
        .collect();
    assert_eq!(
        effective.first(),
        Some(&8),
        "the start-up event: {effective:?}"
    );
    assert!(effective.iter().any(|e| *e <= 4), "lowered: {effective:?}");
    assert_eq!(effective.last(), Some(&8), "restored: {effective:?}");
}

#[tokio::test(start_paused = true)]
async fn many_small_jobs_and_one_huge_job_both_make_progress() {
    let s = store();
    s.put(SRC, "huge", 2000 * MIB, 13);
    for i in 0..12 {
        s.put(SRC, &format!("small{i}"), 6 * MIB, 14 + i);
    }
    let mut cfg = config();
    cfg.concurrency = 4;
    cfg.concurrency_per_job = 4;
    let mut h = Engine::start(s.clone(), cfg);
    h.commands
        .send(Command::Enqueue(spec("huge", MIB)))
        .unwrap();
    until(&mut h, &mut vec![], part_done).await;
    for i in 0..12 {
        h.commands
            .send(Command::Enqueue(spec(&format!("small{i}"), 2 * MIB)))
            .unwrap();
    }
    let mut seen = vec![];
    for id in 2..=13 {
        let (state, _) = final_state(&until(&mut h, &mut seen, finished(id)).await);
        assert_eq!(state, JobState::Done);
    }
    let huge_done = parts_done(&seen, 1);
    assert!(
        huge_done > 0,
        "the huge job kept moving while small jobs ran"
    );
    assert!(huge_done < 2000, "small jobs did not wait for the huge one");
    h.commands.send(Command::Shutdown).unwrap();
    while h.events.recv().await.is_some() {}
}

#[tokio::test(start_paused = true)]
async fn shutdown_journals_and_a_new_engine_resumes_without_recopying() {
    let dir = tempfile::tempdir().unwrap();
    let s = store();
    s.put(SRC, "r", 1200 * MIB, 20);
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    cfg.concurrency = 64;
    cfg.concurrency_per_job = 64;
    let mut h = Engine::start(s.clone(), cfg.clone());
    h.commands.send(Command::Enqueue(spec("r", MIB))).unwrap();
    let mut seen = vec![];
    while parts_done(&seen, 1) < 1050 {
        until(&mut h, &mut seen, part_done).await;
    }
    h.commands.send(Command::Shutdown).unwrap();
    while let Some(ev) = h.events.recv().await {
        seen.push(ev);
    }
    assert_eq!(
        s.count(Op::AbortMultipartUpload),
        0,
        "shutdown does not abort"
    );
    let journal = journal::Journal::open(dir.path()).unwrap();
    let rec = journal.read(1).unwrap();
    assert_eq!(rec.state, "cancelled");
    assert!(!rec.uploads.values().next().unwrap().done_parts.is_empty());
    // Simulate a crash before the last entries were written: the journal knows fewer parts.
    let log = std::fs::read_to_string(journal.path(1)).unwrap();
    let mut parts = 0;
    let kept: Vec<&str> = log
        .lines()
        .filter(|l| {
            if l.starts_with("{\"t\":\"p\"") {
                parts += 1;
                parts <= 10
            } else {
                true
            }
        })
        .collect();
    std::fs::write(journal.path(1), kept.join("\n") + "\n").unwrap();
    assert_eq!(
        journal
            .read(1)
            .unwrap()
            .uploads
            .values()
            .next()
            .unwrap()
            .done_parts
            .len(),
        10
    );
    let upload = s.upload_ids()[0].clone();
    let had = s.upload_part_numbers(&upload);
    assert!(had.len() > 1000, "more than one ListParts page");
    let before = s.part_calls().len();
    let lists = s.count(Op::ListParts);

    let mut h = Engine::start(s.clone(), cfg);
    let mut seen = vec![];
    let added = until(&mut h, &mut seen, |e| matches!(e, Event::JobAdded { .. })).await;
    assert!(
        matches!(
            added,
            Event::JobAdded {
                id: 1,
                state: JobState::Interrupted,
                ..
            }
        ),
        "{added:?}"
    );
    h.commands.send(Command::Resume(1)).unwrap();
    let (state, v) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(v.unwrap().crc64_matched, Some(true));
    assert!(s.count(Op::ListParts) >= lists + 2, "paginated ListParts");
    let again = &s.part_calls()[before..];
    assert!(
        again.iter().all(|p| !had.contains(p)),
        "re-copied a part the server had"
    );
    assert_eq!(again.len() + had.len(), 1200);
    assert!(!journal.exists(1), "a done job's journal file is removed");
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_when_the_source_changed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store();
    s.put(SRC, "e", 40 * MIB, 21);
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let mut h = Engine::start(s.clone(), cfg.clone());
    h.commands.send(Command::Enqueue(spec("e", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Shutdown).unwrap();
    while h.events.recv().await.is_some() {}
    s.change_etag(SRC, "e");
    let mut h = Engine::start(s.clone(), cfg);
    h.commands.send(Command::Resume(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(
        msg.contains("refusing to resume") && msg.contains("haul jobs abort 1"),
        "{msg}"
    );
    let before = s.part_calls().len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.part_calls().len(), before);
}

#[tokio::test(start_paused = true)]
async fn a_bucket_outside_the_default_region_is_found_through_list_buckets() {
    let s = store();
    s.put(SRC, "g", 4 * MIB, 22);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("g", MIB))).unwrap();
    h.commands
        .send(Command::Enqueue(CopySpec {
            destination: CosUri::parse(&format!("cos://{DST}/g2")).unwrap(),
            ..spec("g", MIB)
        }))
        .unwrap();
    let mut seen = vec![];
    for id in 1..=2 {
        let (state, _) = final_state(&until(&mut h, &mut seen, finished(id)).await);
        assert_eq!(state, JobState::Done);
    }
    assert_eq!(s.count(Op::ListBuckets), 1, "the region is cached");
}

#[tokio::test(start_paused = true)]
async fn a_complete_whose_reply_is_lost_is_looked_at_not_repeated() {
    let s = store();
    let src = s.put(SRC, "l", 20 * MIB, 30);
    s.lose_next_reply(Op::CompleteMultipartUpload);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("l", MIB))).unwrap();
    let mut seen = vec![];
    let (state, v) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(v.unwrap().crc64_matched, Some(true));
    assert_eq!(
        s.count(Op::CompleteMultipartUpload),
        1,
        "Complete was not sent again"
    );
    assert!(s.count(Op::ListParts) >= 1, "looked before deciding");
    assert_eq!(s.object(DST, "l").unwrap().size, src.size);
}

#[tokio::test(start_paused = true)]
async fn a_complete_that_failed_before_taking_effect_is_retried_after_looking() {
    let s = store();
    s.put(SRC, "l2", 20 * MIB, 31);
    let mut first = true;
    s.set_fault(move |c| {
        if c.op == Op::CompleteMultipartUpload && first {
            first = false;
            return Some(service_error(
                Op::CompleteMultipartUpload,
                500,
                "InternalError",
            ));
        }
        None
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("l2", MIB))).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(s.count(Op::CompleteMultipartUpload), 2);
    assert_eq!(s.count(Op::ListParts), 1, "the upload was still there");
}

#[tokio::test(start_paused = true)]
async fn an_upload_that_disappears_fails_the_job_clearly() {
    let s = store();
    s.put(SRC, "n", 20 * MIB, 32);
    s.set_fault(|c| {
        (c.op == Op::UploadPartCopy && c.part == Some(5))
            .then(|| service_error(Op::UploadPartCopy, 404, "NoSuchUpload"))
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("n", MIB))).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(msg.contains("disappeared"), "{msg}");
    assert_eq!(
        s.part_calls().iter().filter(|p| **p == 5).count(),
        1,
        "404 is not retried"
    );
}

#[tokio::test(start_paused = true)]
async fn storage_class_option_overrides_the_source_class() {
    let s = store();
    s.put(SRC, "sc", 20 * MIB, 33);
    let mut h = Engine::start(s.clone(), config());
    let mut sp = spec("sc", MIB);
    sp.options.storage_class = Some("STANDARD_IA".into());
    h.commands.send(Command::Enqueue(sp)).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(s.object(DST, "sc").unwrap().storage_class, "STANDARD_IA");
}

#[tokio::test(start_paused = true)]
async fn no_clobber_skips_an_existing_destination() {
    let s = store();
    s.put(SRC, "nc", 20 * MIB, 34);
    s.put(DST, "nc", 1, 35);
    let mut h = Engine::start(s.clone(), config());
    let mut sp = spec("nc", MIB);
    sp.options.overwrite = Overwrite::Skip;
    h.commands.send(Command::Enqueue(sp)).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Skipped);
    assert_eq!(s.count(Op::InitiateMultipartUpload), 0);
}

#[tokio::test(start_paused = true)]
async fn browse_lists_uploads_with_their_progress_and_owning_job() {
    let s = store();
    s.put(SRC, "u", 20 * MIB, 36);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("u", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Cancel(1)).unwrap();
    until(&mut h, &mut seen, finished(1)).await;
    h.commands
        .send(Command::Browse(BrowseRequest::Uploads {
            bucket: crate::store::BucketName::parse(DST).unwrap(),
            prefix: String::new(),
        }))
        .unwrap();
    let ev = until(&mut h, &mut seen, |e| matches!(e, Event::Listing(_))).await;
    let Event::Listing(Listing::Uploads { uploads: Ok(u), .. }) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].job, Some(1));
    assert!(u[0].parts > 0);
    assert_eq!(u[0].bytes, u[0].parts as u64 * MIB);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_parts_produce_a_few_events_each() {
    let s = store();
    s.put(SRC, "tt", 10_000 * MIB, 40);
    s.set_part_delay(Duration::from_millis(20));
    let mut cfg = config();
    cfg.concurrency = 64;
    cfg.concurrency_per_job = 64;
    let mut h = Engine::start(s.clone(), cfg);
    h.commands.send(Command::Enqueue(spec("tt", MIB))).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(parts_done(&seen, 1), 10_000);
    assert!(seen.len() <= 2 * 10_000 + 20, "{} events", seen.len());
    assert_eq!(s.max_in_flight(), 64);
}

#[tokio::test(start_paused = true)]
async fn active_jobs_limit_how_many_jobs_run_at_once() {
    let s = store();
    for i in 0..4 {
        s.put(SRC, &format!("aj{i}"), 10 * MIB, 50 + i);
    }
    let mut cfg = config();
    cfg.active_jobs = 1;
    let mut h = Engine::start(s.clone(), cfg);
    for i in 0..4 {
        h.commands
            .send(Command::Enqueue(spec(&format!("aj{i}"), MIB)))
            .unwrap();
    }
    let mut seen = vec![];
    let (mut running, mut max_running) = (std::collections::HashSet::new(), 0);
    loop {
        let ev = until(&mut h, &mut seen, |_| true).await;
        match ev {
            Event::JobState {
                id,
                state: JobState::Preparing,
            } => {
                running.insert(id);
            }
            Event::JobFinished { id, .. } => {
                running.remove(&id);
                if id == 4 {
                    break;
                }
            }
            _ => {}
        }
        max_running = max_running.max(running.len());
    }
    assert_eq!(max_running, 1);
    h.commands.send(Command::SetActiveJobs(3)).unwrap();
    for i in 0..3 {
        h.commands
            .send(Command::Enqueue(spec(&format!("aj{i}"), MIB)))
            .unwrap();
    }
    until(&mut h, &mut seen, finished(7)).await;
    assert_eq!(s.max_in_flight(), 8, "three jobs of 4 share the global 8");
}

#[tokio::test(start_paused = true)]
async fn abort_of_a_paused_job_aborts_once_and_remove_forgets_it() {
    let s = store();
    s.put(SRC, "pa", 40 * MIB, 60);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("pa", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Pause(1)).unwrap();
    until(&mut h, &mut seen, became(JobState::Paused)).await;
    h.commands.send(Command::Abort(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Aborted);
    assert_eq!(s.count(Op::AbortMultipartUpload), 1);
    h.commands.send(Command::Remove(1)).unwrap();
    until(&mut h, &mut seen, |e| {
        matches!(e, Event::JobRemoved { id: 1 })
    })
    .await;
    // Commands about a removed job are ignored.
    h.commands.send(Command::Resume(1)).unwrap();
    h.commands.send(Command::Shutdown).unwrap();
    while let Some(ev) = h.events.recv().await {
        assert!(!matches!(ev, Event::JobState { id: 1, .. }), "{ev:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_paused_queued_job_waits_until_resumed() {
    let s = store();
    s.put(SRC, "q1", 10 * MIB, 61);
    s.put(SRC, "q2", 10 * MIB, 62);
    let mut cfg = config();
    cfg.active_jobs = 1;
    let mut h = Engine::start(s.clone(), cfg);
    h.commands.send(Command::Enqueue(spec("q1", MIB))).unwrap();
    h.commands.send(Command::Enqueue(spec("q2", MIB))).unwrap();
    h.commands.send(Command::Pause(2)).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, finished(1)).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        s.count(Op::InitiateMultipartUpload),
        1,
        "the paused queued job did not start"
    );
    h.commands.send(Command::Resume(2)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(2)).await);
    assert_eq!(state, JobState::Done);
}

#[tokio::test(start_paused = true)]
async fn two_engines_on_one_state_dir_never_share_a_job_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = store();
    s.put(SRC, "i1", 20 * MIB, 70);
    s.put(SRC, "i2", 20 * MIB, 71);
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let mut a = Engine::start(s.clone(), cfg.clone());
    let mut b = Engine::start(s.clone(), cfg);
    a.commands.send(Command::Enqueue(spec("i1", MIB))).unwrap();
    b.commands.send(Command::Enqueue(spec("i2", MIB))).unwrap();
    let added = |e: &Event| {
        matches!(
            e,
            Event::JobAdded {
                state: JobState::Queued,
                ..
            }
        )
    };
    let (Event::JobAdded { id: ia, .. }, Event::JobAdded { id: ib, .. }) = (
        until(&mut a, &mut vec![], added).await,
        until(&mut b, &mut vec![], added).await,
    ) else {
        unreachable!()
    };
    assert_ne!(ia, ib);
    for (h, id) in [(&mut a, ia), (&mut b, ib)] {
        let (state, _) = final_state(&until(h, &mut vec![], finished(id)).await);
        assert_eq!(state, JobState::Done);
    }
    let left: Vec<_> = std::fs::read_dir(dir.path().join("transfers"))
        .unwrap()
        .flatten()
        .collect();
    assert!(
        left.is_empty(),
        "the logs of done transfers are removed: {left:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn abort_while_a_resumed_job_prepares_still_aborts_the_kept_upload() {
    let s = store();
    s.put(SRC, "ap", 40 * MIB, 61);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("ap", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Cancel(1)).unwrap();
    until(&mut h, &mut seen, finished(1)).await;
    assert_eq!(s.upload_ids().len(), 1, "cancel keeps the upload");
    // The resumed run stalls in ListParts (retrying a 503), before any part is copied.
    s.set_fault(|c| {
        (c.op == Op::ListParts).then(|| service_error(Op::ListParts, 503, "ServiceUnavailable"))
    });
    h.commands.send(Command::Resume(1)).unwrap();
    until(
        &mut h,
        &mut seen,
        |e| matches!(e, Event::Waiting { what, .. } if what == "ListParts"),
    )
    .await;
    h.commands.send(Command::Abort(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Aborted);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.count(Op::AbortMultipartUpload), 1);
    assert!(
        s.upload_ids().is_empty(),
        "the aborted job's upload is gone"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_an_abort_already_sent() {
    let s = store();
    s.put(SRC, "sa", 40 * MIB, 62);
    let mut h = Engine::start(s.clone(), config());
    h.commands.send(Command::Enqueue(spec("sa", MIB))).unwrap();
    let mut seen = vec![];
    until(&mut h, &mut seen, part_done).await;
    h.commands.send(Command::Cancel(1)).unwrap();
    until(&mut h, &mut seen, finished(1)).await;
    // The first Abort attempt fails transiently, so the abort is still retrying at shutdown.
    let mut first = true;
    s.set_fault(move |c| {
        (c.op == Op::AbortMultipartUpload && std::mem::take(&mut first))
            .then(|| service_error(Op::AbortMultipartUpload, 503, "ServiceUnavailable"))
    });
    h.commands.send(Command::Abort(1)).unwrap();
    h.commands.send(Command::Shutdown).unwrap();
    while let Some(ev) = h.events.recv().await {
        seen.push(ev);
    }
    assert!(
        seen.iter().any(|e| matches!(
            e,
            Event::JobFinished {
                id: 1,
                state: JobState::Aborted,
                ..
            }
        )),
        "the abort finished before the engine stopped"
    );
    assert!(s.upload_ids().is_empty(), "the upload is gone");
}

#[tokio::test(start_paused = true)]
async fn a_job_that_panics_fails_and_the_engine_still_shuts_down() {
    let s = store();
    s.put(SRC, "boom", 10 * MIB, 63);
    s.set_fault(|c| {
        if c.op == Op::InitiateMultipartUpload {
            panic!("injected panic in the store");
        }
        None
    });
    let mut h = Engine::start(s.clone(), config());
    h.commands
        .send(Command::Enqueue(spec("boom", MIB)))
        .unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(msg.contains("stopped unexpectedly"), "{msg}");
    h.commands.send(Command::Shutdown).unwrap();
    while h.events.recv().await.is_some() {}
}

#[tokio::test(start_paused = true)]
async fn browse_retries_a_throttled_listing_and_reports_a_permanent_error() {
    let s = store();
    s.put(SRC, "listed", MIB, 41);
    let mut throttled = 0;
    s.set_fault(move |c| {
        if c.op != Op::ListObjects {
            return None;
        }
        if c.key == "denied/" {
            return Some(service_error(Op::ListObjects, 403, "AccessDenied"));
        }
        throttled += 1;
        (throttled <= 2).then(|| service_error(Op::ListObjects, 503, "SlowDown"))
    });
    let mut h = Engine::start(s.clone(), config());
    let bucket = crate::store::BucketName::parse(SRC).unwrap();
    let mut seen = vec![];
    for prefix in ["", "denied/"] {
        h.commands
            .send(Command::Browse(BrowseRequest::Objects {
                bucket: bucket.clone(),
                prefix: prefix.into(),
                marker: None,
            }))
            .unwrap();
        let ev = until(&mut h, &mut seen, |e| matches!(e, Event::Listing(_))).await;
        let Event::Listing(Listing::Objects { page, .. }) = ev else {
            panic!("{ev:?}")
        };
        match prefix {
            "" => assert_eq!(page.unwrap().objects.len(), 1),
            _ => assert!(page.unwrap_err().contains("AccessDenied")),
        }
    }
    // Two throttled attempts and the success; the 403 is tried once.
    assert_eq!(s.count(Op::ListObjects), 4);
}

fn prefix_spec(src: &str, dst: &str) -> CopySpec {
    CopySpec {
        source: CosUri::parse(&format!("cos://{SRC}/{src}")).unwrap(),
        destination: CosUri::parse(&format!("cos://{DST}/{dst}")).unwrap(),
        options: CopyOptions::default(),
    }
}

fn put_many(s: &MemStore, prefix: &str, n: usize, size: u64) {
    for i in 0..n {
        s.put(SRC, &format!("{prefix}{i:08}"), size, i as u64 + 1000);
    }
}

#[tokio::test(start_paused = true)]
async fn a_prefix_is_one_transfer_with_one_request_per_small_object() {
    let s = store();
    put_many(&s, "p/", 2500, 1000);
    s.put(SRC, "p/dir/", 0, 1); // a folder placeholder is copied too
    s.put(SRC, "other/x", 1000, 2);
    let mut h = Engine::start(s.clone(), config());
    h.commands
        .send(Command::Enqueue(prefix_spec("p/", "q/")))
        .unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    let added = seen
        .iter()
        .filter(|e| matches!(e, Event::JobAdded { .. }))
        .count();
    assert_eq!(added, 1, "one transfer, not one job per object");
    assert_eq!(s.count(Op::PutObjectCopy), 2501);
    assert_eq!(
        s.count(Op::HeadObject),
        0,
        "no HEAD before or after a small copy"
    );
    assert_eq!(s.count(Op::ListObjects), 3, "three pages of 1000");
    assert!(s.count(Op::HeadBucket) <= 2, "each region looked up once");
    assert!(s.object(DST, "q/00002499").is_some());
    assert!(s.object(DST, "q/dir/").is_some());
    assert!(s.object(DST, "q/x").is_none(), "only the prefix");
    let done = seen
        .iter()
        .filter(|e| matches!(e, Event::ObjectDone { .. }))
        .count();
    assert_eq!(done, 2501);
}

#[tokio::test(start_paused = true)]
async fn a_prefix_that_matches_nothing_fails_and_says_so() {
    let s = store();
    let mut h = Engine::start(s.clone(), config());
    h.commands
        .send(Command::Enqueue(prefix_spec("none/", "q/")))
        .unwrap();
    let (state, _) = final_state(&until(&mut h, &mut vec![], finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(
        msg.contains("no objects under cos://src-1250000000/none/"),
        "{msg}"
    );
}

#[tokio::test(start_paused = true)]
async fn one_failed_object_does_not_stop_the_prefix_and_resume_retries_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = store();
    put_many(&s, "f/", 300, 1000);
    s.set_fault(|c| {
        (c.op == Op::PutObjectCopy && c.key == "g/00000123")
            .then(|| service_error(Op::PutObjectCopy, 403, "AccessDenied"))
    });
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let mut h = Engine::start(s.clone(), cfg.clone());
    h.commands
        .send(Command::Enqueue(prefix_spec("f/", "g/")))
        .unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(msg.contains("1 of 300 objects failed"), "{msg}");
    assert!(seen.iter().any(
        |e| matches!(e, Event::ObjectFailed { key, error, .. } if key == "f/00000123" && error.contains("AccessDenied"))
    ));
    assert_eq!(s.count(Op::PutObjectCopy), 300, "a 403 is not retried");
    h.commands.send(Command::Shutdown).unwrap();
    while h.events.recv().await.is_some() {}

    s.clear_fault();
    let before = s.count(Op::PutObjectCopy);
    let mut h = Engine::start(s.clone(), cfg);
    h.commands.send(Command::Resume(1)).unwrap();
    let (state, _) = final_state(&until(&mut h, &mut vec![], finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(
        s.count(Op::PutObjectCopy) - before,
        1,
        "only the failed object is copied again"
    );
    assert!(s.object(DST, "g/00000123").is_some());
    assert!(!journal::Journal::open(dir.path()).unwrap().exists(1));
}

#[tokio::test(start_paused = true)]
async fn resume_continues_the_listing_and_copies_finished_objects_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let s = store();
    put_many(&s, "r/", 3000, 1000);
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let mut h = Engine::start(s.clone(), cfg.clone());
    h.commands
        .send(Command::Enqueue(prefix_spec("r/", "s/")))
        .unwrap();
    let mut seen = vec![];
    let mut done = 0;
    while done < 1200 {
        if let Event::ObjectDone { .. } =
            until(&mut h, &mut seen, |e| matches!(e, Event::ObjectDone { .. })).await
        {
            done += 1;
        }
    }
    h.commands.send(Command::Shutdown).unwrap();
    while h.events.recv().await.is_some() {}
    let first = s.count(Op::PutObjectCopy);
    let listed_first = s.count(Op::ListObjects);

    let mut h = Engine::start(s.clone(), cfg);
    h.commands.send(Command::Resume(1)).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    let total = s.count(Op::PutObjectCopy);
    // At most the copies in flight at the stop (8) are repeated.
    assert!(
        total <= 3000 + 8,
        "{total} copies for 3000 objects ({first} before the stop)"
    );
    assert!(
        s.count(Op::ListObjects) - listed_first <= 2,
        "the listing continues from the cursor"
    );
    for i in [0, 1500, 2999] {
        assert!(s.object(DST, &format!("s/{i:08}")).is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn a_prefix_mixes_small_objects_and_multipart_ones() {
    let s = store();
    put_many(&s, "m/", 50, 1000);
    let big = s.put(SRC, "m/zz-big", 40 * MIB, 9);
    let mut h = Engine::start(s.clone(), config());
    let mut spec = prefix_spec("m/", "n/");
    spec.options.part_size = PartSize::Fixed(8 * MIB);
    h.commands.send(Command::Enqueue(spec)).unwrap();
    let mut seen = vec![];
    let (state, _) = final_state(&until(&mut h, &mut seen, finished(1)).await);
    assert_eq!(state, JobState::Done);
    assert_eq!(s.count(Op::PutObjectCopy), 50);
    assert_eq!(s.count(Op::UploadPartCopy), 5);
    assert_eq!(s.object(DST, "n/zz-big").unwrap().size, big.size);
    let bytes: u64 = seen
        .iter()
        .map(|e| match e {
            Event::ObjectDone { bytes, .. } | Event::Bytes { bytes, .. } => *bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(bytes, 50 * 1000 + 40 * MIB, "every byte reported once");
}

#[tokio::test(start_paused = true)]
async fn a_transfer_held_by_another_engine_is_refused_with_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let s = store();
    s.put(SRC, "held", 400 * MIB, 3);
    let mut cfg = config();
    cfg.state_dir = Some(dir.path().to_path_buf());
    let mut a = Engine::start(s.clone(), cfg.clone());
    a.commands
        .send(Command::Enqueue(spec("held", MIB)))
        .unwrap();
    until(&mut a, &mut vec![], part_done).await;
    // A second engine (another process in real life) sees it in the journal and tries it.
    let mut b = Engine::start(s.clone(), cfg);
    b.commands.send(Command::Resume(1)).unwrap();
    let (state, _) = final_state(&until(&mut b, &mut vec![], finished(1)).await);
    let JobState::Failed(msg) = state else {
        panic!("{state:?}")
    };
    assert!(
        msg.contains("in use by another haul process")
            && msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    a.commands.send(Command::Shutdown).unwrap();
    while a.events.recv().await.is_some() {}
}

#[tokio::test(start_paused = true)]
async fn an_invalid_request_is_rejected_not_queued() {
    let s = store();
    let mut h = Engine::start(s.clone(), config());
    let mut onto_itself = prefix_spec("p/", "p/");
    onto_itself.destination.bucket = onto_itself.source.bucket.clone();
    h.commands.send(Command::Enqueue(onto_itself)).unwrap();
    let ev = until(&mut h, &mut vec![], |e| matches!(e, Event::Rejected { .. })).await;
    let Event::Rejected { error, .. } = ev else {
        unreachable!()
    };
    assert!(error.contains("onto itself"), "{error}");
}
