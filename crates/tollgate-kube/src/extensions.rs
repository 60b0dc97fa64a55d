//! Request extensions: a value shared by the extensions and the notes
//! ([`insert_shared`], [`get_shared`]), and extensions with room for what
//! the layers put in ([`extensions_with_room`]).

use std::sync::Arc;

/// Puts `value` into the request's [`Notes`](crate::Notes) and its
/// extensions as the shared `Arc<T>`, and, when `copy`, a by-value `T`
/// besides (for readers of `get::<T>()`). Without the copy, a by-value `T`
/// already there is removed: [`get_shared`] reads one first, and none put
/// in by a layer further out may stand for `value`.
///
/// How the authentication layer hands on the verified `Identity` and the
/// RequestInfo layer the parsed `RequestInfo`.
///
/// ```
/// use std::sync::Arc;
/// let mut ext = http::Extensions::new();
/// ext.insert(String::from("put in further out"));
/// tollgate_kube::insert_shared(&mut ext, &Arc::new(String::from("checked")), false);
/// assert!(ext.get::<String>().is_none());
/// assert_eq!(tollgate_kube::get_shared::<String>(&ext).map(String::as_str), Some("checked"));
/// ```
pub fn insert_shared<T: Clone + Send + Sync + 'static>(extensions: &mut http::Extensions, value: &Arc<T>, copy: bool) {
    crate::note(extensions, Arc::clone(value));
    extensions.insert(Arc::clone(value));
    if copy {
        extensions.insert(T::clone(value));
    } else {
        extensions.remove::<T>();
    }
}

/// The `T` of a request's extensions (or notes): one put in by value, else
/// the shared `Arc<T>` ([`insert_shared`]).
pub fn get_shared<T: Send + Sync + 'static>(extensions: &http::Extensions) -> Option<&T> {
    extensions
        .get::<T>()
        .or_else(|| extensions.get::<Arc<T>>().map(AsRef::as_ref))
}

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
