//! A throwaway preview of the TUI on a fake engine that invents buckets, objects and copy
//! progress, so the UI can be seen before `haul demo` is wired to the real server and engine.
//! Not part of the product. Run: `cargo run --example ui_preview`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use haul::engine::{
    BrowseRequest, Command, Event, JobState, Listing, PlanSummary, Strategy, UploadSummary,
};
use haul::store::{BucketInfo, ListObjectsPage, ObjectMeta, ObjectSummary, UploadInfo};
use haul::ui::{run, UiOptions};
use tokio::sync::mpsc;

struct FakeJob {
    parts: u32,
    next: u32,
    in_flight: Vec<(u32, SystemTime)>,
    state: JobState,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<Command>();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel::<Event>();
    let engine = tokio::spawn(async move {
        let mut jobs: BTreeMap<u64, FakeJob> = BTreeMap::new();
        let mut next_id = 1u64;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let part: u64 = 64 << 20;
        loop {
            tokio::select! {
                c = cmd_rx.recv() => {
                    let Some(c) = c else { break };
                    match c {
                        Command::Shutdown => break,
                        Command::Browse(BrowseRequest::Buckets) => {
                            let b = ["media-1250000000", "backup-1250000000"].map(|n| BucketInfo { name: n.into(), region: "ap-shanghai".into(), created: None });
                            let _ = ev_tx.send(Event::Listing(Listing::Buckets(Ok(b.to_vec()))));
                        }
                        Command::Browse(BrowseRequest::Objects { bucket, prefix, marker }) => {
                            let page_no: u32 = marker.as_deref().and_then(|m| m.rsplit('-').next()).and_then(|n| n.trim_end_matches(".mov").parse::<u32>().ok()).map(|n| n / 500 + 1).unwrap_or(0);
                            let objects = (0..500).map(|i| { let n = page_no * 500 + i; ObjectSummary { key: format!("{prefix}clip-{n:06}.mov"), size: (n as u64 % 97 + 1) << 30, last_modified: None, etag: "e".into(), storage_class: "STANDARD".into() } }).collect::<Vec<_>>();
                            let next = objects.last().map(|o| o.key.clone());
                            let common = if prefix.is_empty() && marker.is_none() { vec!["raw/".into()] } else { vec![] };
                            let page = ListObjectsPage { objects, common_prefixes: common, is_truncated: page_no < 20, next_marker: next };
                            let _ = ev_tx.send(Event::Listing(Listing::Objects { bucket, prefix, marker, page: Ok(page) }));
                        }
                        Command::Browse(BrowseRequest::HeadObject(uri)) => {
                            let meta = ObjectMeta { size: 5 << 30, etag: "abc".into(), last_modified: None, crc64: Some(7), crc64nvme: None, storage_class: "STANDARD".into(), headers: Default::default() };
                            let _ = ev_tx.send(Event::Listing(Listing::Object { uri, meta: Ok(meta) }));
                        }
                        Command::Browse(BrowseRequest::Uploads { bucket, prefix }) => {
                            let u = UploadSummary { upload: UploadInfo { key: format!("{prefix}old.mov"), upload_id: "u-1".into(), initiated: None, storage_class: None }, parts: 3, bytes: 3 * part, job: None };
                            let _ = ev_tx.send(Event::Listing(Listing::Uploads { bucket, prefix, uploads: Ok(vec![u]) }));
                        }
                        Command::Enqueue(spec) => {
                            let id = next_id;
                            next_id += 1;
                            let parts = 200;
                            let _ = ev_tx.send(Event::JobAdded { id, spec, state: JobState::Queued , journaled: true});
                            let _ = ev_tx.send(Event::JobPlanned { id, plan: PlanSummary { size: parts as u64 * part, strategy: Strategy::Multipart { part_size: part, parts, ramp: haul::engine::plan::Ramp::NONE }, upload_id: Some(format!("upload-{id}")), parts_done: vec![], source_etag: "e".into(), source_crc64: None } });
                            let _ = ev_tx.send(Event::JobState { id, state: JobState::Running });
                            jobs.insert(id, FakeJob { parts, next: 1, in_flight: vec![], state: JobState::Running });
                        }
                        Command::Pause(id) | Command::Cancel(id) | Command::Abort(id) | Command::Resume(id) | Command::Retry(id) => {
                            let state = match c { Command::Pause(_) => JobState::Paused, Command::Cancel(_) => JobState::Cancelled, Command::Abort(_) => JobState::Aborted, _ => JobState::Running };
                            if let Some(j) = jobs.get_mut(&id) { j.state = state.clone(); j.in_flight.clear(); }
                            let _ = ev_tx.send(Event::JobState { id, state });
                        }
                        _ => {}
                    }
                }
                _ = tick.tick() => {
                    let now = SystemTime::now();
                    for (id, j) in jobs.iter_mut() {
                        if j.state != JobState::Running { continue; }
                        j.in_flight.retain(|(p, at)| {
                            if now.duration_since(*at).unwrap_or_default() > Duration::from_millis(1500) {
                                let _ = ev_tx.send(Event::PartDone { job: *id, part: *p, bytes: part, elapsed: Duration::from_millis(1500) });
                                false
                            } else { true }
                        });
                        while j.in_flight.len() < 8 && j.next <= j.parts {
                            let _ = ev_tx.send(Event::PartStarted { job: *id, part: j.next, attempt: 1, at: now });
                            j.in_flight.push((j.next, now));
                            j.next += 1;
                        }
                        if j.in_flight.is_empty() && j.next > j.parts {
                            j.state = JobState::Done;
                            let _ = ev_tx.send(Event::JobFinished { id: *id, state: JobState::Done, verification: None });
                        }
                    }
                }
            }
        }
    });
    let mut opts = UiOptions::new("preview (fake engine)");
    opts.access_paths = vec![];
    let result = run(cmd_tx, ev_rx, opts).await;
    engine.abort();
    result
}
