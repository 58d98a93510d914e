//! TaskGroup children with names (asyncio's `tg.create_task(coro, name=...)`):
//! the name is the task's from its creation, and the one its failure is
//! reported under.

use asyncio::task::Builder;
use asyncio::TaskGroup;

#[test]
fn a_named_child_has_its_name_from_the_start() {
    asyncio::run(async {
        let tg = TaskGroup::new();
        let named = Builder::new()
            .name("fetcher")
            .spawn_in(&tg, async { asyncio::current_task().map(|t| t.get_name()) })
            .unwrap();
        let unnamed = tg.create_task(async { 2 }).unwrap();
        // Before the child ran, as after.
        assert_eq!(named.get_name(), "fetcher");
        assert_eq!(unnamed.get_name(), format!("Task-{}", unnamed.id()));
        tg.join().await.unwrap();
        assert_eq!(named.result(), Some(Some("fetcher".to_owned())));
        assert_eq!(unnamed.result(), Some(2));
    });
}

#[test]
fn a_named_childs_failure_is_reported_under_its_name() {
    asyncio::run(async {
        let tg = TaskGroup::new();
        Builder::new()
            .name("disk-writer")
            .try_spawn_in(&tg, async { Err::<(), _>("no space left") })
            .unwrap();
        Builder::new()
            .name("panicker")
            .spawn_in(&tg, async { panic!("no memory") })
            .unwrap();
        let err = tg.join().await.unwrap_err();
        let mut names: Vec<&str> = err.failures().iter().map(|f| f.task_name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["disk-writer", "panicker"]);
    });
}

#[test]
fn a_closed_group_refuses_named_children_too() {
    asyncio::run(async {
        let tg = TaskGroup::new();
        tg.cancel();
        let refused = Builder::new().name("late").spawn_in(&tg, async {}).unwrap_err();
        assert!(refused.to_string().contains("cancelled"), "{refused}");
    });
}
