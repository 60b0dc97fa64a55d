//! Families sampled at each scrape from parts that keep their own counts:
//! the audit recorder (feature `audit`), the OIDC verifier, the policy
//! store, the listener and the proxy's tunnels (feature `proxy`).

use crate::Kind::{Counter, Gauge};
use crate::{Metrics, Sample};

#[cfg(feature = "audit")]
type RecorderSample = (
    &'static str,
    &'static str,
    crate::Kind,
    fn(&tollgate_audit::Recorder) -> u64,
);

impl Metrics {
    /// `tollgate_audit_*`: whether requests are recorded (`None`: not),
    /// the recorder's health, counts, queue depth and write time.
    #[cfg(feature = "audit")]
    pub fn sample_audit(&mut self, recorder: Option<tollgate_audit::Recorder>) {
        let enabled = recorder.is_some();
        self.register_sampled("audit_enabled", "Whether requests are recorded", Gauge, move || {
            u64::from(enabled)
        });
        let Some(r) = recorder else { return };
        let sampled: [RecorderSample; 8] = [
            (
                "audit_healthy",
                "Whether the last batch of records was written",
                Gauge,
                |r| u64::from(r.is_healthy()),
            ),
            (
                "audit_records_written",
                "Audit records the sinks confirmed",
                Counter,
                |r| r.stats().written,
            ),
            (
                "audit_records_failed",
                "Audit records that could not be queued or written (each also logged)",
                Counter,
                |r| r.stats().failed,
            ),
            (
                "audit_requests_refused",
                "Requests refused because their audit record could not be written",
                Counter,
                |r| r.stats().refused,
            ),
            ("audit_batches", "Batches written to the sinks", Counter, |r| {
                r.stats().batches
            }),
            (
                "audit_sink_write_microseconds",
                "Time spent writing batches to the sinks (divided by audit_batches_total: the mean write latency)",
                Counter,
                |r| r.stats().write_micros,
            ),
            (
                "audit_held_writes",
                "Audit writes on a request's thread that the kernel held asleep over 2 ms (a second within 5 s sends records through the writer thread for 5 s)",
                Counter,
                |r| r.stats().held_writes,
            ),
            (
                "audit_queue_depth",
                "Audit records queued and not yet written",
                Gauge,
                |r| r.queued() as u64,
            ),
        ];
        for (name, help, kind, read) in sampled {
            let r = r.clone();
            self.register_sampled(name, help, kind, move || read(&r));
        }
    }

    /// `tollgate_approval_notifications_{delivered,retried,failed}_total`:
    /// what the approval notifiers did (every receiver together).
    #[cfg(feature = "readiness")]
    pub fn sample_notifications(&mut self, stats: std::sync::Arc<tollgate_approval::NotifyStats>) {
        use std::sync::atomic::Ordering::Relaxed;
        type Read = fn(&tollgate_approval::NotifyStats) -> u64;
        let sampled: [(&'static str, &'static str, Read); 3] = [
            (
                "approval_notifications_delivered",
                "Approval notifications a receiver accepted",
                |s| s.delivered.load(Relaxed),
            ),
            (
                "approval_notifications_retried",
                "Approval notifications tried again after a failure",
                |s| s.retried.load(Relaxed),
            ),
            (
                "approval_notifications_failed",
                "Approval notifications given up on (each also logged)",
                |s| s.failed.load(Relaxed),
            ),
        ];
        for (name, help, read) in sampled {
            let s = stats.clone();
            self.register_sampled(name, help, Counter, move || read(&s));
        }
    }

    /// `tollgate_jwks_fetches_total{issuer,result}` and
    /// `tollgate_jwks_key_set_age_seconds{issuer}`, from the verifier the
    /// layer uses at scrape time (a reload replaces it, and its counts).
    pub fn sample_authn(&mut self, authn: &tollgate_oidc::AuthnLayer) {
        if authn.verifier().is_none() {
            return;
        }
        let a = authn.clone();
        self.register_sampled_family(
            "jwks_fetches",
            "Key-set (discovery + JWKS) fetches by issuer and result",
            Counter,
            move || {
                let Some(v) = a.verifier() else { return Vec::new() };
                v.key_fetches()
                    .into_iter()
                    .flat_map(|(issuer, ok, failed, _)| {
                        [("ok", ok), ("error", failed)]
                            .map(|(result, n)| (vec![("issuer", issuer.to_owned()), ("result", result.to_owned())], n))
                    })
                    .collect::<Vec<Sample>>()
            },
        );
        let a = authn.clone();
        self.register_sampled_family(
            "jwks_key_set_age_seconds",
            "Seconds since the issuer's keys in use were fetched",
            Gauge,
            move || {
                let Some(v) = a.verifier() else { return Vec::new() };
                v.key_fetches()
                    .into_iter()
                    .filter_map(|(issuer, _, _, age)| Some((vec![("issuer", issuer.to_owned())], age?.as_secs())))
                    .collect()
            },
        );
    }

    /// `tollgate_policy_reloads_total{result}`.
    pub fn sample_policy(&mut self, store: &tollgate_rules::PolicyStore) {
        let p = store.clone();
        self.register_sampled_family("policy_reloads", "Policy file reloads by result", Counter, move || {
            let (ok, failed) = p.reload_counts();
            vec![
                (vec![("result", "success".to_owned())], ok),
                (vec![("result", "failure".to_owned())], failed),
            ]
        });
    }

    /// `tollgate_connections_open`, `tollgate_worker_connections{worker}`
    /// and `tollgate_connections_refused_total{reason}`.
    #[cfg(feature = "proxy")]
    pub fn sample_connections(&mut self, stats: &tollgate_proxy::ServeStats) {
        let c = stats.clone();
        self.register_sampled("connections_open", "Client connections open", Gauge, move || c.open());
        let c = stats.clone();
        self.register_sampled_family(
            "worker_connections",
            "Client connections open on each worker thread (workers:)",
            Gauge,
            move || {
                c.per_worker()
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| (vec![("worker", i.to_string())], n))
                    .collect()
            },
        );
        let c = stats.clone();
        self.register_sampled_family(
            "connections_refused",
            "Client connections closed at once: over the connection limits, over the TLS handshakes in progress, or a failed handshake",
            Counter,
            move || {
                [
                    ("limits", c.refused_over_limits()),
                    ("handshakes", c.refused_over_handshakes()),
                    ("tls", c.handshakes_failed()),
                ]
                .map(|(reason, n)| (vec![("reason", reason.to_owned())], n))
                .to_vec()
            },
        );
    }

    /// `tollgate_tunnels_open`, `tollgate_tunnel_bytes_total{from}`, and
    /// `tollgate_long_running_open` with `tollgate_long_running_limit`.
    #[cfg(feature = "proxy")]
    pub fn sample_tunnels(&mut self, proxy: &tollgate_proxy::Proxy) {
        let t = proxy.clone();
        self.register_sampled(
            "long_running_open",
            "Long-running requests (watches, logs, proxy, exec, attach, port-forward) under way, each on an upstream connection of its own",
            Gauge,
            move || u64::try_from(t.long_running().0).unwrap_or(u64::MAX),
        );
        let t = proxy.clone();
        self.register_sampled(
            "long_running_limit",
            "The most long-running requests under way at once (limits.maxLongRunning); past it they get 429",
            Gauge,
            move || u64::try_from(t.long_running().1).unwrap_or(u64::MAX),
        );
        let t = proxy.clone();
        self.register_sampled(
            "tunnels_open",
            "Tunnels (exec, attach, port-forward) open now",
            Gauge,
            move || t.tunnels().open,
        );
        let t = proxy.clone();
        self.register_sampled_family(
            "tunnel_bytes",
            "Bytes through tunnels that closed, by direction (from the client, from the API server)",
            Counter,
            move || {
                let totals = t.tunnels();
                [("client", totals.client_bytes), ("upstream", totals.upstream_bytes)]
                    .map(|(from, n)| (vec![("from", from.to_owned())], n))
                    .to_vec()
            },
        );
    }
}
