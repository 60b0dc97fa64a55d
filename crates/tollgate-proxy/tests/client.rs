//! The webhook client against a real HTTP receiver on loopback: the
//! kubeconfig's token and path, a bounded answer, a bounded wait.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_proxy::{Client, Error, Upstream};

/// A receiver that answers every connection with `answer` (after reading
/// the request head), and hands back what it read.
async fn receiver(answer: Vec<u8>, delay: Duration) -> (String, tokio::sync::mpsc::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let (answer, tx) = (answer.clone(), tx.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).await;
                tokio::time::sleep(delay).await;
                let _ = conn.write_all(&answer).await;
            });
        }
    });
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'http://{addr}/hooks/audit'}}}}]\n\
         users: [{{name: u, user: {{token: s3cret}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
    );
    (kubeconfig, rx)
}

fn client(kubeconfig: &str) -> Client {
    Client::new(Upstream::from_kubeconfig_yaml(kubeconfig, "hook.kubeconfig", std::path::Path::new("."), None).unwrap())
}

#[tokio::test]
async fn posts_to_the_server_path_with_the_kubeconfig_token() {
    let (k, mut seen) = receiver(
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec(),
        Duration::ZERO,
    )
    .await;
    let res = client(&k).post_json("", r#"{"a":1}"#.into()).await.unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(&res.body[..], b"{}");
    let head = seen.recv().await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("post /hooks/audit http/1.1\r\n"), "{head}");
    assert!(head.contains("authorization: bearer s3cret\r\n"), "{head}");
    assert!(head.contains("content-type: application/json\r\n"), "{head}");
    assert!(!head.contains("impersonate"), "{head}");
}

#[tokio::test]
async fn an_oversized_answer_is_an_error_not_held() {
    let big = tollgate_proxy::MAX_RESPONSE_BYTES + 1;
    let mut answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {big}\r\n\r\n").into_bytes();
    answer.resize(answer.len() + big, b'x');
    let (k, _seen) = receiver(answer, Duration::ZERO).await;
    let e = client(&k).get("/x").await.unwrap_err();
    assert!(matches!(e, Error::Receiver { .. }), "{e}");
    assert!(e.to_string().contains("reading the response"), "{e}");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let (k, _seen) = receiver(Vec::new(), Duration::from_secs(30)).await;
    let e = client(&k)
        .timeout(Duration::from_millis(300))
        .post_json("", "{}".into())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no answer within"), "{e}");
    assert!(e.to_string().contains("/hooks/audit"), "{e}");
}
