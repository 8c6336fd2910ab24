//! Start-up refuses what cannot work, with a message that says why.

use fiducia_enricher::Application;
use fiducia_runtime::kafka::admin::ensure_topics;
use fiducia_testkit::unique;
use tokio_util::sync::CancellationToken;

use crate::helpers::{PARTITIONS, Setup};

#[tokio::test]
async fn a_sessions_topic_with_fewer_partitions_than_raw_is_refused() {
    let setup = Setup::new().await;
    let mut config = setup.config(&unique("enricher"));
    config.kafka.topics.sessions = format!("{}.small", setup.topics.sessions);
    ensure_topics(
        &setup.infra.brokers,
        &[&config.kafka.topics.sessions],
        PARTITIONS - 1,
    )
    .await
    .unwrap();
    let Err(error) = Application::build(config, CancellationToken::new()).await else {
        panic!("an enricher with nowhere to keep some partitions' sessions started");
    };
    assert!(error.to_string().contains("partitions"), "{error}");
}

#[tokio::test]
async fn a_file_that_is_not_a_geo_database_is_refused() {
    let setup = Setup::new().await;
    let mut config = setup.config(&unique("enricher"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), b"not a database").unwrap();
    config.geoip_db = Some(file.path().to_owned());
    let Err(error) = Application::build(config, CancellationToken::new()).await else {
        panic!("an enricher with a broken geo database started");
    };
    assert!(error.to_string().contains("geo database"), "{error}");
}
