//! A registry outage (HTTP 500 injected by a proxy in front of the real registry) is a
//! transient error after bounded retries, and heals by itself once the registry answers.

use super::*;

#[tokio::test]
async fn an_unreachable_registry_is_a_transient_error_and_heals_by_itself() {
    let upstream = infra().await.registry_url.clone();
    let proxy = fault_proxy::FaultProxy::start(&upstream);
    let topics = topics();
    let mut config = RegistryConfig::new(proxy.url(&upstream));
    config.retry = fast_retries();
    let codec = Codec::new(&config).expect("codec");

    // Registry answers 500 to everything: bounded retries, then a transient error.
    proxy.set_failing(true);
    let message = examples().remove(0);
    let err = codec.encode(&topics.commands, &message).await.unwrap_err();
    assert!(
        matches!(
            err.clone(),
            allocation_worker::adapters::codec::EncodeError::Registry(RegistryError::Unavailable {
                attempts: 3,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.is_retriable());

    // Register through a healthy path, then decode through the failing proxy: transient.
    let healthy = codec_for(&upstream).await;
    let bytes = healthy
        .encode(&topics.commands, &message)
        .await
        .expect("encode");
    let err = codec.decode(Some(&bytes)).await.unwrap_err();
    assert_eq!(err.class(), FailureClass::Transient, "{err:?}");

    // The registry is back: the same codec recovers without being rebuilt.
    proxy.set_failing(false);
    assert_eq!(
        codec.decode(Some(&bytes)).await.expect("healed").message,
        message
    );
    codec
        .encode(&topics.commands, &message)
        .await
        .expect("healed encode");
}

async fn codec_for(url: &str) -> Codec {
    Codec::new(&RegistryConfig::new(url)).expect("codec")
}

/// A TCP proxy in front of the real registry that can answer HTTP 500 to everything (fault
/// injection; the registry itself is never replaced).
mod fault_proxy {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    pub struct FaultProxy {
        port: u16,
        failing: Arc<AtomicBool>,
    }

    fn host_port(url: &str) -> String {
        let rest = url.split("://").nth(1).unwrap_or(url);
        rest.split('/').next().unwrap_or(rest).to_owned()
    }

    impl FaultProxy {
        pub fn start(upstream_url: &str) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
            let port = listener.local_addr().unwrap().port();
            let failing = Arc::new(AtomicBool::new(false));
            let upstream = host_port(upstream_url);
            let flag = failing.clone();
            std::thread::spawn(move || {
                for client in listener.incoming().flatten() {
                    let upstream = upstream.clone();
                    let failing = flag.load(Ordering::SeqCst);
                    std::thread::spawn(move || serve(client, &upstream, failing));
                }
            });
            Self { port, failing }
        }

        /// The registry URL, through the proxy.
        pub fn url(&self, upstream_url: &str) -> String {
            upstream_url.replacen(
                &host_port(upstream_url),
                &format!("127.0.0.1:{}", self.port),
                1,
            )
        }

        pub fn set_failing(&self, failing: bool) {
            self.failing.store(failing, Ordering::SeqCst);
        }
    }

    fn serve(mut client: TcpStream, upstream: &str, failing: bool) {
        if failing {
            let mut buf = [0u8; 8192];
            let _ = client.read(&mut buf);
            let body = r#"{"error_code":50001,"message":"injected fault"}"#;
            let _ = write!(
                client,
                "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        let Ok(server) = TcpStream::connect(upstream) else {
            return;
        };
        let (Ok(mut c2), Ok(mut s2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        let mut server = server;
        let up = std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut server);
            let _ = server.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut s2, &mut client);
        let _ = client.shutdown(std::net::Shutdown::Write);
        let _ = up.join();
    }
}
