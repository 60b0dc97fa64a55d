//! The approval state machine in both stores (memory, and Redis with real
//! `redis-server` processes: one server and a three-node cluster): n-of-m,
//! self-approval, TTLs, single use under races, replays, waking waiters.
//! TLS, ACL users and Sentinel failover: `tests/redis_topologies.rs`.

use std::sync::Arc;
use std::time::Duration;

use tollgate_approval::{
    Approval, ApprovalStore, Approvers, MemoryStore, Person, RedisStore, RequestSummary, State, StoreError, Vote,
    check_approver,
};

/// Runs a scenario against both stores.
macro_rules! both {
    ($name:ident, $scenario:ident) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                $scenario(Arc::new(MemoryStore::default())).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                let server = tollgate_testkit::RedisServer::start().unwrap();
                $scenario(Arc::new(RedisStore::connect(&server.url()).await.unwrap())).await;
            }

            /// Every key a change touches shares one hash slot, so the
            /// compare-and-set runs in a cluster too.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis_cluster() {
                let cluster = tollgate_testkit::RedisCluster::start().unwrap();
                $scenario(Arc::new(RedisStore::connect(&cluster.url()).await.unwrap())).await;
            }
        }
    };
}

both!(n_of_m, n_of_m_distinct_approvers_and_no_self_approval);
both!(single_use, a_grant_is_used_once_and_a_replay_is_refused);
both!(ttls, ttls_expire_pending_requests_and_unused_grants);
both!(denial, a_denial_answers_the_same_request_until_it_would_have_expired);
both!(race, two_identical_requests_racing_for_one_grant_get_exactly_one);
both!(wake, a_waiter_wakes_when_the_decision_lands);

fn person(name: &str, groups: &[&str]) -> Person {
    let mut id = tollgate_kube::Identity::anonymous();
    id.issuer = "https://idp".into();
    id.subject = name.into();
    id.username = name.into();
    id.groups = groups.iter().map(|g| (*g).to_owned()).collect();
    Person::of(&id)
}

fn approval(id: &str, fp: &str, count: u32, uses: u32) -> Approval {
    let a = serde_json::json!({
        "id": id, "fingerprint": fp, "state": "pending", "rule": "r", "message": "m",
        "requester": person("ci", &["ci"]),
        "request": RequestSummary::clone(&serde_json::from_value(serde_json::json!({"verb": "delete", "requestUri": "/x", "namespace": "prod", "resource": "deployments", "name": "web", "command": "kubectl delete deployment web -n prod"})).unwrap()),
        "approvers": {"groups": ["admins"], "owners": [], "users": ["carol"], "count": count},
        "approvals": [], "createdAt": 1000, "pendingUntil": 1000 + 3600, "grantSeconds": 900, "usesLeft": uses
    });
    serde_json::from_value(a).unwrap()
}

async fn n_of_m_distinct_approvers_and_no_self_approval(s: Arc<impl ApprovalStore>) {
    let a = s.request(approval("apr-1", "fp", 2, 1), 1000).await.unwrap();
    assert_eq!(a.state, State::Pending);
    let alice = person("alice", &["admins"]);
    let ci = person("ci", &["ci", "admins"]);
    assert_eq!(check_approver(&a, &ci), Err(StoreError::SelfApproval));
    assert!(matches!(
        check_approver(&a, &person("mallory", &["dev"])),
        Err(StoreError::NotAnApprover { .. })
    ));
    assert!(check_approver(&a, &person("carol", &[])).is_ok(), "named user");
    assert_eq!(
        s.decide("apr-1", Vote::new(ci, 1001, ""), true, 1001).await,
        Err(StoreError::SelfApproval)
    );
    let a = s
        .decide("apr-1", Vote::new(alice.clone(), 1001, "ok"), true, 1001)
        .await
        .unwrap();
    assert_eq!(a.state, State::Pending, "one of two");
    let a = s
        .decide("apr-1", Vote::new(alice, 1002, "again"), true, 1002)
        .await
        .unwrap();
    assert_eq!(
        (a.state, a.approvals.len()),
        (State::Pending, 1),
        "the same approver twice counts once"
    );
    let a = s
        .decide("apr-1", Vote::new(person("bob", &["admins"]), 1003, ""), true, 1003)
        .await
        .unwrap();
    assert_eq!(a.state, State::Approved);
    assert_eq!(a.grant_until, Some(1003 + 900));
    assert!(matches!(
        s.decide("apr-1", Vote::new(person("carol", &[]), 1004, ""), true, 1004)
            .await,
        Err(StoreError::NotPending { state: "approved", .. })
    ));
}

async fn a_grant_is_used_once_and_a_replay_is_refused(s: Arc<impl ApprovalStore>) {
    s.request(approval("apr-1", "fp", 1, 1), 1000).await.unwrap();
    assert_eq!(s.consume("fp", 1000).await.unwrap(), None, "not approved yet");
    s.decide("apr-1", Vote::new(person("alice", &["admins"]), 1001, ""), true, 1001)
        .await
        .unwrap();
    assert!(
        s.consume("other-fp", 1002).await.unwrap().is_none(),
        "another request is not covered"
    );
    let used = s.consume("fp", 1002).await.unwrap().unwrap();
    assert_eq!((used.state, used.uses_left), (State::Consumed, 0));
    assert!(s.consume("fp", 1003).await.unwrap().is_none(), "replay refused");
    // The same request asks again: a new pending approval.
    let again = s.request(approval("apr-2", "fp", 1, 1), 1004).await.unwrap();
    assert_eq!((again.id.as_str(), again.state), ("apr-2", State::Pending));
}

async fn ttls_expire_pending_requests_and_unused_grants(s: Arc<impl ApprovalStore>) {
    s.request(approval("apr-1", "fp", 1, 1), 1000).await.unwrap();
    assert_eq!(
        s.get("apr-1", 1000 + 3600).await.unwrap().unwrap().state,
        State::Expired
    );
    assert!(matches!(
        s.decide("apr-1", Vote::new(person("alice", &["admins"]), 4700, ""), true, 4700)
            .await,
        Err(StoreError::NotPending { state: "expired", .. })
    ));
    // Expired: the next attempt is a new pending request.
    assert_eq!(
        s.request(approval_at("apr-2", "fp", 4700), 4700).await.unwrap().id,
        "apr-2"
    );
    s.decide("apr-2", Vote::new(person("alice", &["admins"]), 4701, ""), true, 4701)
        .await
        .unwrap();
    assert!(
        s.consume("fp", 4701 + 900).await.unwrap().is_none(),
        "the grant expired unused"
    );
    assert_eq!(s.get("apr-2", 4701 + 900).await.unwrap().unwrap().state, State::Expired);
}

async fn a_denial_answers_the_same_request_until_it_would_have_expired(s: Arc<impl ApprovalStore>) {
    s.request(approval("apr-1", "fp", 1, 1), 1000).await.unwrap();
    let d = s
        .decide(
            "apr-1",
            Vote::new(person("alice", &["admins"]), 1001, "not today"),
            false,
            1001,
        )
        .await
        .unwrap();
    assert_eq!(d.state, State::Denied);
    assert_eq!(d.denial.as_ref().unwrap().reason, "not today");
    let again = s.request(approval("apr-2", "fp", 1, 1), 1002).await.unwrap();
    assert_eq!((again.id.as_str(), again.state), ("apr-1", State::Denied));
    assert!(s.consume("fp", 1002).await.unwrap().is_none());
}

async fn two_identical_requests_racing_for_one_grant_get_exactly_one(s: Arc<impl ApprovalStore>) {
    for round in 0..30 {
        let fp = format!("fp{round}");
        let id = format!("apr-r{round}");
        s.request(approval(&id, &fp, 1, 1), 1000).await.unwrap();
        s.decide(&id, Vote::new(person("alice", &["admins"]), 1001, ""), true, 1001)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (s, fp) = (s.clone(), fp.clone());
                tokio::spawn(async move { s.consume(&fp, 1002).await.unwrap().is_some() })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
    }
}

async fn a_waiter_wakes_when_the_decision_lands(s: Arc<impl ApprovalStore>) {
    let t = tollgate_approval_now();
    s.request(approval_at("apr-1", "fp", t), t).await.unwrap();
    let waiter = {
        let s = s.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            let a = s.wait("apr-1", Duration::from_secs(20)).await.unwrap().unwrap();
            (a.state, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.decide("apr-1", Vote::new(person("alice", &["admins"]), t, ""), true, t)
        .await
        .unwrap();
    let (state, waited) = waiter.await.unwrap();
    assert_eq!(state, State::Approved);
    assert!(waited < Duration::from_secs(5), "woken, not timed out: {waited:?}");
}

fn tollgate_approval_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn approval_at(id: &str, fp: &str, t: u64) -> Approval {
    let mut a = approval(id, fp, 1, 1);
    a.created_at = t;
    a.pending_until = t + 3600;
    a
}

#[test]
fn approvers_describe_themselves() {
    let a = approval("apr-1", "fp", 2, 1);
    let ap: &Approvers = &a.approvers;
    assert_eq!(ap.describe(), "2 of group admins, user carol");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_racing_for_one_grant_get_exactly_one() {
    let server = tollgate_testkit::RedisServer::start().unwrap();
    let a = Arc::new(RedisStore::connect(&server.url()).await.unwrap());
    let b = Arc::new(RedisStore::connect(&server.url()).await.unwrap());
    for round in 0..30 {
        let fp = format!("fp{round}");
        let id = format!("apr-x{round}");
        a.request(approval(&id, &fp, 1, 1), 1000).await.unwrap();
        b.decide(&id, Vote::new(person("alice", &["admins"]), 1001, ""), true, 1001)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = if i % 2 == 0 { a.clone() } else { b.clone() };
                let fp = fp.clone();
                tokio::spawn(async move { s.consume(&fp, 1002).await.unwrap().is_some() })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_decision_on_one_replica_wakes_a_holder_on_another() {
    let server = tollgate_testkit::RedisServer::start().unwrap();
    let a = Arc::new(RedisStore::connect(&server.url()).await.unwrap());
    let b = RedisStore::connect(&server.url()).await.unwrap();
    let t = tollgate_approval_now();
    a.request(approval_at("apr-1", "fp", t), t).await.unwrap();
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move {
            let start = std::time::Instant::now();
            (
                a.wait("apr-1", Duration::from_secs(20)).await.unwrap().unwrap().state,
                start.elapsed(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.decide("apr-1", Vote::new(person("alice", &["admins"]), t, ""), true, t)
        .await
        .unwrap();
    let (state, waited) = waiter.await.unwrap();
    assert_eq!(state, State::Approved);
    assert!(waited < Duration::from_secs(5), "woken by the publication: {waited:?}");
}

#[tokio::test]
async fn the_memory_store_forgets_approvals_a_day_after_they_could_matter() {
    // Issue 14: stores stay bounded by what can still be used or reviewed.
    let s = MemoryStore::default();
    s.request(approval("apr-old", "fp-old", 1, 1), 1000).await.unwrap();
    let soon = 1000 + 3600;
    s.request(approval("apr-2", "fp-2", 1, 1), soon).await.unwrap();
    assert_eq!(s.list(soon).await.unwrap().len(), 2, "expired, still listed for review");
    let later = 1000 + 3600 + 900 + 86_400 + 1;
    s.request(approval("apr-3", "fp-3", 1, 1), later).await.unwrap();
    let ids: Vec<String> = s.list(later).await.unwrap().into_iter().map(|a| a.id).collect();
    assert!(!ids.contains(&"apr-old".to_owned()), "{ids:?}");
    assert!(s.get("apr-old", later).await.unwrap().is_none());
    assert_eq!(s.consume("fp-old", later).await.unwrap(), None);
}
