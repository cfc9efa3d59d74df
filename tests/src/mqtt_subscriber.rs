//! A test subscriber: a rumqttc client in its own task that records every
//! message it receives, in arrival order, and reconnects by itself (every
//! 20 ms) while the broker is down. With `clean_session = false` it has a
//! persistent session: the broker queues QoS 1 messages for it while it is
//! away, and (with persistence) across a broker restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, Outgoing, QoS};
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    /// The retain flag: set for retained messages sent at subscription.
    pub retain: bool,
}

impl Received {
    /// The payload as JSON (the wire events), if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.payload).ok()
    }

    /// The `seq` of a wire event.
    pub fn seq(&self) -> Option<u64> {
        self.json()?.get("seq")?.as_u64()
    }

    /// The `kind` of a wire event (`readings` for a batch).
    pub fn kind(&self) -> Option<String> {
        Some(self.json()?.get("kind")?.as_str()?.to_owned())
    }

    /// The events the message carries, as `(seq, single-event JSON)`: itself for a single
    /// event, each reading of a batch (wire version 2) as the single event it stands for
    /// (the agent's own `event::batch::split`), none for anything else.
    pub fn events(&self) -> Vec<(u64, Vec<u8>)> {
        if let Some(seq) = self.seq() {
            return vec![(seq, self.payload.clone())];
        }
        let Ok(batch) = serde_json::from_slice::<edge_agent::event::batch::BatchIn>(&self.payload)
        else {
            return Vec::new();
        };
        edge_agent::event::batch::split(batch)
            .into_iter()
            .filter_map(Result::ok)
            .map(|event| (event.seq, event.json.into_bytes()))
            .collect()
    }

    /// The seqs of the events the message carries (see [`events`](Self::events)).
    pub fn seqs(&self) -> Vec<u64> {
        self.events().into_iter().map(|(seq, _)| seq).collect()
    }

    /// The kinds of the events the message carries: `reading` for each reading of a batch.
    pub fn kinds(&self) -> Vec<String> {
        match self.kind().as_deref() {
            Some("readings") => vec!["reading".to_owned(); self.seqs().len()],
            Some(kind) => vec![kind.to_owned()],
            None => Vec::new(),
        }
    }
}

/// A subscriber running in the background; stopped when dropped.
#[derive(Debug)]
pub struct Subscriber {
    received: Arc<Mutex<Vec<Received>>>,
    client: AsyncClient,
    task: JoinHandle<()>,
}

impl Subscriber {
    /// Connects to 127.0.0.1:`port` as `client_id`, subscribes to `filter` at
    /// QoS 1 (again whenever the broker has no session for it), and returns
    /// once the first subscription is acknowledged (within 10 s).
    pub async fn connect(
        port: u16,
        client_id: &str,
        filter: &str,
        clean_session: bool,
    ) -> Result<Self> {
        Self::connect_as(port, client_id, filter, clean_session, None).await
    }

    /// [`connect`](Self::connect) with a user name and password.
    pub async fn connect_as(
        port: u16,
        client_id: &str,
        filter: &str,
        clean_session: bool,
        login: Option<(&str, &str)>,
    ) -> Result<Self> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        options.set_clean_session(clean_session);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1024 * 1024, 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 16);
        let received = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = {
            let received = Arc::clone(&received);
            let subscribed = Arc::clone(&subscribed);
            let client = client.clone();
            let filter = filter.to_owned();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                            if !ack.session_present
                                && client
                                    .try_subscribe(filter.clone(), QoS::AtLeastOnce)
                                    .is_err()
                            {
                                return;
                            }
                        }
                        Ok(Event::Incoming(Incoming::SubAck(_))) => {
                            subscribed.store(true, std::sync::atomic::Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Incoming::Publish(publish))) => {
                            let message = Received {
                                topic: publish.topic.clone(),
                                payload: publish.payload.to_vec(),
                                retain: publish.retain,
                            };
                            if let Ok(mut list) = received.lock() {
                                list.push(message);
                            }
                        }
                        Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => return,
                        Err(_) => sleep(Duration::from_millis(20)).await,
                    }
                }
            })
        };
        let subscriber = Subscriber {
            received,
            client,
            task,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !subscribed.load(std::sync::atomic::Ordering::SeqCst) {
            if Instant::now() > deadline {
                bail!("subscriber {client_id} not subscribed to {filter} within 10 s");
            }
            sleep(Duration::from_millis(10)).await;
        }
        Ok(subscriber)
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many messages were received so far.
    pub fn count(&self) -> usize {
        self.received.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Waits (polling every 10 ms) until `done` holds for what was received,
    /// or fails after `limit` with `what` and the count.
    pub async fn wait_until(
        &self,
        what: &str,
        limit: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            {
                let list = self
                    .received
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?;
                if done(&list) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "subscriber: {what} not seen within {limit:?} ({} messages received)",
                    self.count()
                );
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Disconnects cleanly and stops the task.
    pub async fn disconnect(mut self) {
        let _ = self.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut self.task).await;
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
