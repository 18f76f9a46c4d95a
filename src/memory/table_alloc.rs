//! Where the memory store's hash tables live: large tables on transparent huge pages.
//!
//! A lookup in a large store touches two random places (a control byte and an entry), and
//! with 4 KiB pages each is also a TLB miss. Tables of 2 MiB and more are therefore allocated
//! 2 MiB-aligned (their size rounded up to whole huge pages when that adds at most an eighth,
//! which also takes in tables from 1.78 MiB) and marked `MADV_HUGEPAGE`, so on Linux with
//! transparent huge pages in `madvise` or `always` mode they are backed by 2 MiB pages (one
//! TLB entry per 2 MiB instead of per 4 KiB). Where the kernel says no (THP `never`, no huge page free), `madvise` fails
//! or is ignored and the table simply stays on small pages. Smaller tables, and every table
//! off Linux, come from the global allocator unchanged. Only whole huge pages inside the table
//! are advised, so no neighbouring allocation is touched; the advice stays on that address
//! range after the table is freed (the allocator may hand it out again, still eligible).

use std::alloc::Layout;
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global};

/// The allocator of the store's hash tables.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TableAlloc;

/// The huge page size on x86_64 and aarch64 (with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// The layout actually requested from the global allocator for `layout`: large tables are
/// aligned to a huge page, and their size is rounded up to a whole number of huge pages when
/// that adds at most an eighth (a table of 32,768 entries of 56 bytes is 1.87 MiB: on 4 KiB
/// pages unless it is given the rest of its 2 MiB). A pure function of `layout`, so
/// `deallocate` finds the same one.
fn backing(layout: Layout) -> Layout {
    if !cfg!(target_os = "linux") || layout.size() < HUGE_PAGE / 2 {
        return layout;
    }
    let whole = layout.size().div_ceil(HUGE_PAGE) * HUGE_PAGE;
    let size = if whole - layout.size() <= layout.size() / 8 {
        whole
    } else if layout.size() >= HUGE_PAGE {
        layout.size()
    } else {
        // Under one huge page and not worth rounding up: nothing to put on one.
        return layout;
    };
    Layout::from_size_align(size, layout.align().max(HUGE_PAGE)).unwrap_or(layout)
}

// SAFETY: every block comes from `Global` with the layout `backing` derives from the caller's
// layout, and goes back to `Global` with the same derived layout; the derived layout is at
// least as large and as aligned as the caller's, so the block fits what the caller asked for.
unsafe impl Allocator for TableAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let real = backing(layout);
        let block = Global.allocate(real)?;
        if real != layout {
            advise_huge(block);
        }
        // Exactly the size asked for: hashbrown would use, and later free as its own, any
        // surplus, and `deallocate` derives the block's real layout from the caller's.
        Ok(NonNull::slice_from_raw_parts(block.cast(), layout.size()))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: `ptr` was allocated by `allocate` above with `backing(layout)`.
        unsafe { Global.deallocate(ptr, backing(layout)) }
    }
}

#[cfg(target_os = "linux")]
fn advise_huge(block: NonNull<[u8]>) {
    // Whole huge pages only: the kernel would round a ragged end up to a page that may hold
    // someone else's allocation.
    let len = block.len() & !(HUGE_PAGE - 1);
    // SAFETY: the range lies inside one live allocation of ours and starts on a huge-page
    // (hence page) boundary; MADV_HUGEPAGE only changes how the kernel backs it, never its
    // contents. A failure (THP disabled, old kernel) leaves small pages, which is fine.
    unsafe {
        libc::madvise(block.as_ptr().cast(), len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_block: NonNull<[u8]>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_layouts_pass_through_and_large_ones_are_huge_page_aligned() {
        let small = Layout::from_size_align(4096, 16).unwrap();
        assert_eq!(backing(small), small);
        let large = Layout::from_size_align(6 << 20, 16).unwrap();
        // 1.87 MiB: rounded up to one huge page (7% more).
        let almost = Layout::from_size_align(32_768 * 57, 16).unwrap();
        // 2.5 MiB: rounding up would add 60%, so only aligned.
        let ragged = Layout::from_size_align(5 << 19, 16).unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!(backing(large).align(), HUGE_PAGE);
            assert_eq!(backing(large).size(), large.size());
            assert_eq!(backing(almost).size(), HUGE_PAGE);
            assert_eq!(backing(almost).align(), HUGE_PAGE);
            assert_eq!(backing(ragged).size(), ragged.size());
        }
        for layout in [small, large, almost, ragged] {
            let block = TableAlloc.allocate(layout).unwrap();
            assert_eq!(block.len(), layout.size());
            assert_eq!(block.as_ptr().cast::<u8>() as usize % layout.align(), 0);
            // Touch both ends, then give it back.
            // SAFETY: the block is ours and at least `layout.size()` bytes long.
            unsafe {
                block.as_ptr().cast::<u8>().write(1);
                block.as_ptr().cast::<u8>().add(layout.size() - 1).write(2);
                TableAlloc.deallocate(block.cast(), layout);
            }
        }
    }
}
