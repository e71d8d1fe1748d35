//! `haul serve`: the local COS-compatible server in the foreground.
//!
//! Prints `listening http://IP:PORT` as the very first line on stdout (scripts wait for it),
//! then the credentials to use; runs until SIGINT or SIGTERM, then exits 0.

use std::io::Write as _;

use super::GlobalArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub options: crate::server::ServeArgs,
}

pub fn run(_global: &GlobalArgs, args: Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return super::fail(super::exit::FAILED, format!("cannot start tokio: {e}")),
    };
    rt.block_on(serve(args.options))
}

async fn serve(options: crate::server::ServeArgs) -> i32 {
    let handle = match crate::server::start(options).await {
        Ok(h) => h,
        Err(e) => return super::fail(super::exit::USAGE, format!("{e:#}")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening {}", handle.endpoint());
    for (id, key) in &handle.credentials {
        let _ = writeln!(out, "credentials {id}:{key}");
    }
    let _ = writeln!(
        out,
        "try: TENCENTCLOUD_SECRET_ID={} TENCENTCLOUD_SECRET_KEY=… haul --endpoint {} ls",
        handle
            .credentials
            .first()
            .map(|c| c.0.as_str())
            .unwrap_or(""),
        handle.endpoint()
    );
    let _ = out.flush();
    drop(out);
    wait_for_signal().await;
    handle.shutdown().await;
    super::exit::OK
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
