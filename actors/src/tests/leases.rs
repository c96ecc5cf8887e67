//! Lease renewal of sheds.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_shed_is_reasserted_before_its_lease_lapses() {
    let (api, fleet) = one_station().await;
    shed_at(&fleet, 3.0).await;
    let shed_at = tokio::time::Instant::now();
    assert_renewed_within_the_lease(&api, shed_at).await;
    // Once cleared, nothing is renewed.
    set(&fleet, "shedState", json!(0)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(30 * 60)).await;
    assert_eq!(api.calls_of(ApiMethod::ShedLoad).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_station_started_while_its_port_is_shed_adopts_and_renews_the_shed() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    api.with_station(&station_id(0), |s| {
        s.ports.get_mut(&PortNumber(1)).unwrap().shed = Some(ShedLimit::AllowedLoad(2.0));
    });
    let _fleet = started(&api, 1).await;
    tokio::time::sleep(Duration::from_secs(11 * 60)).await;
    let calls = shed_calls(&api);
    assert!(
        !calls.is_empty() && calls[0].contains("AllowedLoad(2.0)"),
        "{calls:?}"
    );
}
