//! The Redis store as teams run Redis, with real `redis-server` processes
//! on loopback: TLS with a test CA and an ACL user whose password comes
//! from a file, a Sentinel failover while an approval is pending, and a
//! three-node cluster — two gateway replicas sharing approvals in each.

use std::sync::Arc;
use std::time::Duration;

use tollgate_approval::config::ApprovalConfig;
use tollgate_approval::{Approval, ApprovalStore, Person, RedisOptions, RedisStore, State, Vote};
use tollgate_testkit::{RedisCluster, RedisSentinels, RedisTls};

fn person(name: &str, groups: &[&str]) -> Person {
    let mut id = tollgate_kube::Identity::anonymous();
    id.issuer = "https://idp".into();
    id.subject = name.into();
    id.username = name.into();
    id.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    Person::of(&id)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn pending(id: &str, fp: &str) -> Approval {
    let t = now();
    serde_json::from_value(serde_json::json!({
        "id": id, "fingerprint": fp, "state": "pending", "rule": "r", "message": "m",
        "requester": person("ci", &["ci"]),
        "request": {"verb": "delete", "requestUri": "/x", "namespace": "prod", "resource": "deployments", "name": "web", "command": "kubectl delete deployment web -n prod"},
        "approvers": {"groups": ["admins"], "owners": [], "users": [], "count": 1},
        "approvals": [], "createdAt": t, "pendingUntil": t + 3600, "grantSeconds": 900, "usesLeft": 1
    }))
    .unwrap()
}

/// Replica `a` holds a pending request, replica `b` approves it: `a`'s
/// waiter wakes, the grant is used once across both.
async fn two_replicas_share_one_approval(a: Arc<RedisStore>, b: Arc<RedisStore>, id: &str, fp: &str) {
    let t = now();
    a.request(pending(id, fp), t).await.unwrap();
    let waiter = {
        let (a, id) = (a.clone(), id.to_owned());
        tokio::spawn(async move { a.wait(&id, Duration::from_secs(30)).await.unwrap().unwrap().state })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.list(t).await.unwrap().iter().filter(|x| x.id == id).count(), 1);
    b.decide(id, Vote::new(person("alice", &["admins"]), t, "ok"), true, t)
        .await
        .unwrap();
    assert_eq!(
        waiter.await.unwrap(),
        State::Approved,
        "woken by the other replica's decision"
    );
    let wins = [a.consume(fp, t).await.unwrap(), b.consume(fp, t).await.unwrap()];
    assert_eq!(
        wins.iter().filter(|w| w.is_some()).count(),
        1,
        "single use across replicas"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_with_an_acl_user_whose_password_is_in_a_file() {
    let tls = RedisTls::new().unwrap();
    let server = tls.start(Some(("tollgate", "s3cret-pass"))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis-ca.pem"), &tls.ca_pem).unwrap();
    std::fs::write(dir.path().join("redis-password"), "s3cret-pass\n").unwrap();
    // The URL names the user only; the password and CA are files, as a
    // Kubernetes Secret mounts them.
    let url = format!("rediss://tollgate@127.0.0.1:{}", server.port());
    let yaml = format!("store: redis\nredisUrl: {url}\nredisPasswordFile: redis-password\nredisCaFile: redis-ca.pem\n");
    let mut config: ApprovalConfig = tollgate_kube::from_yaml(&yaml, "tollgate.yaml").unwrap();
    config.validate("tollgate.yaml").unwrap();
    config.rebase(dir.path());
    config.check("tollgate.yaml").unwrap();
    // Two replicas, each built from the configuration.
    let _layer = config.layer("tollgate.yaml").await.unwrap();
    let options = || RedisOptions::new().password("s3cret-pass").ca_pem(tls.ca_pem.clone());
    let a = Arc::new(RedisStore::connect_with(&url, options()).await.unwrap());
    let b = Arc::new(RedisStore::connect_with(&url, options()).await.unwrap());
    two_replicas_share_one_approval(a, b, "apr-tls", "fp-tls").await;

    // Without the CA, the system's roots do not know the test CA.
    let e = RedisStore::connect_with(
        &url,
        RedisOptions::new()
            .password("s3cret-pass")
            .timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("certificate") || e.contains("UnknownIssuer"), "{e}");
    // A wrong password is refused by the server, and not shown.
    let e = RedisStore::connect_with(
        &url,
        RedisOptions::new().password("wrong-one").ca_pem(tls.ca_pem.clone()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("WRONGPASS") || e.to_lowercase().contains("auth"), "{e}");
    assert!(!e.contains("wrong-one"), "{e}");
    // Plain TCP to a TLS port does not pass for a connection.
    let plain = format!("redis://tollgate:s3cret-pass@127.0.0.1:{}", server.port());
    assert!(
        RedisStore::connect_with(&plain, RedisOptions::new().timeout(Duration::from_secs(2)))
            .await
            .is_err()
    );
    // A CA file that is not PEM is named.
    std::fs::write(dir.path().join("redis-ca.pem"), "not a certificate").unwrap();
    let e = config.check("tollgate.yaml").unwrap_err();
    assert_eq!(e.field, "approval.redisCaFile", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sentinel_failover_during_a_pending_approval_loses_nothing() {
    let mut sentinels = RedisSentinels::start().unwrap();
    let url = sentinels.url();
    let a = Arc::new(RedisStore::connect(&url).await.unwrap());
    let b = Arc::new(RedisStore::connect(&url).await.unwrap());
    let t = now();
    a.request(pending("apr-fo", "fp-fo"), t).await.unwrap();
    // A request is held on replica a while the master dies.
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            let state = a.wait("apr-fo", Duration::from_secs(60)).await.unwrap().unwrap().state;
            (state, start.elapsed())
        })
    };
    // Replication is asynchronous: the approval reached the replica
    // before the crash (the window is documented in docs/approvals.md).
    sentinels.wait_replicated("{tollgate}:approval:apr-fo").unwrap();
    let first_master = sentinels.master_port().unwrap();
    sentinels.kill_master();
    sentinels.wait_for_new_master(Duration::from_secs(45)).unwrap();
    assert_ne!(sentinels.master_port().unwrap(), first_master);
    // Replica b decides on the new master; a's waiter, subscribed again,
    // wakes; the grant is used once.
    let decided = b
        .decide("apr-fo", Vote::new(person("alice", &["admins"]), t, "ok"), true, now())
        .await
        .unwrap();
    assert_eq!(decided.state, State::Approved);
    let (state, waited) = waiter.await.unwrap();
    assert_eq!(state, State::Approved);
    assert!(waited < Duration::from_secs(55), "woken, not timed out: {waited:?}");
    let wins = [
        a.consume("fp-fo", now()).await.unwrap(),
        b.consume("fp-fo", now()).await.unwrap(),
    ];
    assert_eq!(wins.iter().filter(|w| w.is_some()).count(), 1);
    // And new approvals go on working on both replicas.
    two_replicas_share_one_approval(a, b, "apr-after", "fp-after").await;
}

/// Sentinels that require a password of their own (`requirepass`, as Helm
/// charts commonly set them up), in front of Redis nodes that require one:
/// both passwords from files, through the configuration; without the
/// Sentinels' password nothing connects, and the error says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinels_with_a_password_of_their_own() {
    let sentinels = RedisSentinels::start_with_password(Some("sentinel-s3cret")).unwrap();
    let url = sentinels.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("redis-password"), "sentinel-s3cret\n").unwrap();
    std::fs::write(dir.path().join("sentinel-password"), "sentinel-s3cret\n").unwrap();
    let yaml = format!(
        "store: redis\nredisUrl: {url}\nredisPasswordFile: redis-password\nredisSentinelPasswordFile: sentinel-password\n"
    );
    let mut config: ApprovalConfig = tollgate_kube::from_yaml(&yaml, "tollgate.yaml").unwrap();
    config.validate("tollgate.yaml").unwrap();
    config.rebase(dir.path());
    config.check("tollgate.yaml").unwrap();
    let _layer = config.layer("tollgate.yaml").await.unwrap();
    let options = || {
        RedisOptions::new()
            .password("sentinel-s3cret")
            .sentinel_password("sentinel-s3cret")
    };
    let a = Arc::new(RedisStore::connect_with(&url, options()).await.unwrap());
    let b = Arc::new(RedisStore::connect_with(&url, options()).await.unwrap());
    two_replicas_share_one_approval(a, b, "apr-sp", "fp-sp").await;

    // Only the nodes' password: the Sentinels refuse to name the master.
    let e = RedisStore::connect_with(
        &url,
        RedisOptions::new()
            .password("sentinel-s3cret")
            .timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("NOAUTH") || e.to_lowercase().contains("auth"), "{e}");
    assert!(!e.contains("sentinel-s3cret"), "{e}");
    // A Sentinel password for a URL without Sentinels is refused, in the
    // configuration and in the library.
    let yaml = "store: redis\nredisUrl: redis://127.0.0.1:6379\nredisSentinelPasswordFile: sentinel-password\n";
    let config: ApprovalConfig = tollgate_kube::from_yaml(yaml, "tollgate.yaml").unwrap();
    let e = config.validate("tollgate.yaml").unwrap_err();
    assert_eq!(e.field, "approval.redisSentinelPasswordFile", "{e}");
    assert!(e.message.contains("Sentinel"), "{e}");
    let e = RedisStore::connect_with("redis://127.0.0.1:6379", RedisOptions::new().sentinel_password("x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not redis+sentinel://"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_approvals_through_a_cluster() {
    let cluster = RedisCluster::start().unwrap();
    let a = Arc::new(RedisStore::connect(&cluster.url()).await.unwrap());
    // The second replica knows only one node: the cluster tells it the rest.
    let one = format!("redis+cluster://127.0.0.1:{}", cluster.nodes[2].port());
    let b = Arc::new(RedisStore::connect(&one).await.unwrap());
    for i in 0..5 {
        two_replicas_share_one_approval(a.clone(), b.clone(), &format!("apr-c{i}"), &format!("fp-c{i}")).await;
    }
    // The keys really are in one slot, owned by one node.
    let slot = cluster.nodes[0]
        .command(&["CLUSTER", "KEYSLOT", "{tollgate}:approval:apr-c0"])
        .unwrap();
    let fp_slot = cluster.nodes[0]
        .command(&["CLUSTER", "KEYSLOT", "{tollgate}:fp:fp-c0"])
        .unwrap();
    assert_eq!(slot, fp_slot);
}
