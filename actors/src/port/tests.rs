//! The port actor alone, with a gateway over the in-memory fake account.

use std::sync::Arc;

use cp_registry::{AccountId, PortNumber, StationId};
use ractor::concurrency::oneshot;
use ractor::Actor;
use tokio::sync::watch;

use super::*;
use crate::api::LoadScope;
use crate::fake_api::{start_gateway, station_id, FakeApi};
use crate::options::FleetOptions;

async fn context(api: Arc<FakeApi>) -> Arc<PortContext> {
    let gateway = start_gateway(api, FleetOptions::default().gateway).await;
    let (_, group) = watch::channel(None);
    Arc::new(PortContext {
        device: "campus/bldg/1001".into(),
        station: station_id(0),
        account: AccountId("acct".into()),
        gateway,
        options: Arc::new(FleetOptions::default()),
        group,
        read_back: Arc::new(|_, _| {}),
        station_cleared: Arc::new(|| {}),
        tasks: PortTasks::default(),
        plan_refusals: PlanRefusals::default(),
        writes: crate::writes::WriteLog::default(),
    })
}

/// A started port: its actor, join handle, the copy of its registers it keeps, and its
/// address (which its tasks report through, so it lives as long as the port).
type Started = (
    ActorRef<PortMessage>,
    JoinHandle<()>,
    watch::Receiver<PortRegisters>,
    watch::Sender<Option<ActorRef<PortMessage>>>,
);

/// Starts a port from `registers`.
async fn start(context: &Arc<PortContext>, registers: PortRegisters) -> Started {
    let (kept, kept_seen) = watch::channel(registers);
    let (address, address_seen) = watch::channel(None);
    let args = PortArguments {
        context: Arc::clone(context),
        kept,
        address: address_seen,
    };
    let (port, join) = Actor::spawn(None, PortActor, args)
        .await
        .expect("port starts");
    address.send_replace(Some(port.clone()));
    (port, join, kept_seen, address)
}

/// A write's ticket, with its entry in the context's write log.
fn ticket(context: &Arc<PortContext>, point: &str, reply: WriteReplyPort) -> WriteTicket {
    let id = context
        .writes
        .open(&context.device, point, serde_json::Value::Null);
    WriteTicket::new(id, "", Arc::clone(context), reply)
}

async fn write(
    context: &Arc<PortContext>,
    port: &ActorRef<PortMessage>,
    point: &str,
    write: PortWrite,
) -> WriteOutcome {
    let (reply, answer) = oneshot();
    port.cast(PortMessage::Write {
        point: point.into(),
        write,
        ticket: ticket(context, point, reply.into()),
    })
    .expect("the port runs");
    answer
        .await
        .expect("the port answers")
        .expect("the write is accepted")
}

#[tokio::test(start_paused = true)]
async fn writes_queued_at_a_port_run_in_order() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let context = context(Arc::clone(&api)).await;
    let registers = PortRegisters::new(station_id(0), LoadScope::Port(PortNumber(1)));
    let (port, _, _, _address) = start(&context, registers).await;
    // Both sent before either runs: the shed must use the limit written just before it.
    let (limit, shed) = tokio::join!(
        write(
            &context,
            &port,
            "allowedLoad",
            PortWrite::Limit(ShedLimit::AllowedLoad(2.0))
        ),
        write(&context, &port, "shedState", PortWrite::Shed),
    );
    assert_eq!(
        (limit, shed),
        (WriteOutcome::Stored, WriteOutcome::Confirmed)
    );
    let shed = api.with_station(&station_id(0), |s| s.ports[&PortNumber(1)].shed);
    assert_eq!(shed, Some(ShedLimit::AllowedLoad(2.0)));
}

#[tokio::test]
async fn the_kept_registers_are_those_of_the_last_message_before_a_panic() {
    let api = Arc::new(FakeApi::new(1, 1, 1));
    let context = context(api).await;
    let registers = PortRegisters::new(StationId::new("1:1"), LoadScope::Port(PortNumber(1)));
    let (port, join, kept, _address) = start(&context, registers).await;
    let outcome = write(
        &context,
        &port,
        "allowedLoad",
        PortWrite::Limit(ShedLimit::AllowedLoad(3.0)),
    )
    .await;
    assert_eq!(outcome, WriteOutcome::Stored);
    port.cast(PortMessage::ShedApplied {
        limit: ShedLimit::AllowedLoad(3.0),
    })
    .unwrap();
    port.cast(PortMessage::InjectPanic).unwrap();
    join.await.unwrap();
    let last = kept.borrow().clone();
    assert_eq!(last.intent, Some(ShedLimit::AllowedLoad(3.0)));
    assert_eq!(last.believed_shed, Some(ShedLimit::AllowedLoad(3.0)));

    // A port started from them answers with them.
    let (again, _, _, _address) = start(&context, last.clone()).await;
    let registers = ractor::call_t!(again, |reply| PortMessage::Get { reply }, 1_000).unwrap();
    assert_eq!(registers, last);
    again.stop(None);
}
