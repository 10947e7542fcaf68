//! Two futures run together: [`join`].

use core::future::{Future, poll_fn};
use core::pin::pin;
use core::task::Poll;

/// Runs `first` and `second` together until both are done, and returns both outputs.
///
/// Each wake polls `first` before `second`, so a caller puts first the future that starts
/// work elsewhere (an upload) before it waits, and second one that blocks the thread while
/// it works (a filesystem write): then both proceed at once.
pub(crate) async fn join<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    let (mut first, mut second) = (pin!(first), pin!(second));
    let (mut first_out, mut second_out) = (None, None);
    poll_fn(|cx| {
        if first_out.is_none()
            && let Poll::Ready(out) = first.as_mut().poll(cx)
        {
            first_out = Some(out);
        }
        if second_out.is_none()
            && let Poll::Ready(out) = second.as_mut().poll(cx)
        {
            second_out = Some(out);
        }
        match (first_out.take(), second_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (first_out, second_out) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    /// A future that is pending `times` times (waking itself), then ready with `out`.
    async fn after<T>(times: u32, out: T, order: &Cell<alloc::vec::Vec<T>>) -> T
    where
        T: Copy,
    {
        for _ in 0..times {
            let mut yielded = false;
            poll_fn(|cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
        }
        let mut done = order.take();
        done.push(out);
        order.set(done);
        out
    }

    #[test]
    fn both_outputs_come_back_whichever_finishes_first() {
        for (a, b) in [(0, 0), (0, 3), (3, 0), (2, 5)] {
            let order = Cell::new(alloc::vec::Vec::new());
            let out = pollster::block_on(join(after(a, 'a', &order), after(b, 'b', &order)));
            assert_eq!(out, ('a', 'b'));
            let expected = if b < a { ['b', 'a'] } else { ['a', 'b'] };
            assert_eq!(order.take(), expected);
        }
    }
}
