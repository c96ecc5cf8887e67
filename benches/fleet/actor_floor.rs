//! The actor floor: what the design card's one actor per station costs in memory before the
//! station holds a byte of state. One ractor actor per station, with an empty state and one
//! message handled, in a process with the supervisor's allocator. (A port's actor starts only
//! at its station's first write, see `PortChild` in `actors/src/station`, so a fleet at rest
//! has one actor per station.) The difference in RSS between that process and the same process
//! with no actors is the part of the supervisor's RSS that no change to its own state removes.

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::*;

/// What the actor tree alone costs.
pub(super) struct FloorFigures {
    pub(super) actors: usize,
    pub(super) mib: f64,
}

impl FloorFigures {
    pub(super) fn bytes_per_actor(&self) -> f64 {
        self.mib * 1024.0 * 1024.0 / self.actors.max(1) as f64
    }
}

/// Parent side: the child with no actors, then with the fleet's, and the difference.
pub(super) async fn run(stations: usize) -> Result<FloorFigures, BenchError> {
    let empty = child_rss(0).await?;
    let fleet = child_rss(stations).await?;
    Ok(FloorFigures {
        actors: stations,
        mib: fleet - empty,
    })
}

/// RSS, MiB, of a child holding `stations` station actors.
async fn child_rss(stations: usize) -> Result<f64, BenchError> {
    let mut command = this_binary("the actor floor")?;
    command
        .args(["--actor-floor-child", &stations.to_string()])
        .stderr(Stdio::inherit());
    let mut child = Guarded::spawn("the actor floor", command)?;
    child
        .wait_for("ready", READY_TIMEOUT, |l| (l == "ready").then_some(()))
        .await?;
    let (rss_mib, _) = child.rss_mib()?;
    child.stop().await;
    Ok(rss_mib)
}

/// An actor with nothing in it: a station's place in the tree.
struct Empty;

impl Actor for Empty {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(&self, _: ActorRef<()>, _: (), _: &mut ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// Child side: the tree, `ready`, then wait (bounded) to be measured and killed.
pub(super) async fn child(stations: usize) -> Result<(), BenchError> {
    // The root stands for the fleet supervisor, which links every station to itself.
    let (root, _) = Actor::spawn(None, Empty, ())
        .await
        .map_err(BenchError::Actor)?;
    let mut tree = Vec::with_capacity(stations);
    for _ in 0..stations {
        let (station, _) = Actor::spawn_linked(None, Empty, (), root.get_cell())
            .await
            .map_err(BenchError::Actor)?;
        tree.push(station);
    }
    // One message each: a mailbox's first block is allocated with its channel, but the
    // allocator's pages are touched only once something goes through.
    for actor in &tree {
        let _ = actor.cast(());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("ready");
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let _ = tokio::time::timeout(READY_TIMEOUT, stdin.next_line()).await;
    drop(tree);
    Ok(())
}
