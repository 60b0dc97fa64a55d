//! Request extensions with room for what the layers put in.

/// A distinct type per slot, inserted once to grow a map and cleared.
#[derive(Clone)]
struct Slot<const N: usize>;

/// An empty `http::Extensions` whose map has room for 14 values without
/// growing.
///
/// A request's extensions start empty, and the layers of the gateway put
/// about a dozen values in one at a time: the map is allocated at the first
/// and reallocated, its entries moved, at the fourth and the eighth. Its
/// notes ([`Notes`](crate::Notes)) grow the same way. A map made here is one
/// allocation for all of them: a copy of an empty map of this thread's that
/// has grown once (a copy keeps the size of the table it copies).
///
/// ```
/// let mut ext = tollgate_kube::extensions_with_room();
/// assert!(ext.is_empty());
/// ext.insert(7u32);
/// assert_eq!(ext.get::<u32>(), Some(&7));
/// ```
pub fn extensions_with_room() -> http::Extensions {
    thread_local! {
        static ROOMY: http::Extensions = {
            let mut e = http::Extensions::new();
            // Eight values grow the table to 16 buckets (room for 14).
            e.insert(Slot::<0>);
            e.insert(Slot::<1>);
            e.insert(Slot::<2>);
            e.insert(Slot::<3>);
            e.insert(Slot::<4>);
            e.insert(Slot::<5>);
            e.insert(Slot::<6>);
            e.insert(Slot::<7>);
            e.clear();
            e
        };
    }
    ROOMY.with(Clone::clone)
}
