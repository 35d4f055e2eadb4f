//! Adjacent tags of one device merged into as few read requests as the protocol allows.

use super::config::{RegisterKind, TagConfig};

/// One read request and the tags it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    /// Table read.
    pub kind: RegisterKind,
    /// First address.
    pub start: u16,
    /// Registers (or bits) read.
    pub count: u16,
    /// Indexes into the device's tag list of the tags inside this block.
    pub tags: Vec<usize>,
}

/// Plans the reads for `tags`: per table, sorted by address, a tag joins the current block when
/// the hole before it is at most `max_gap` and the block stays within `max_registers` (registers)
/// or `max_bits` (coils and discrete inputs).
pub fn plan(tags: &[TagConfig], max_gap: u16, max_registers: u16, max_bits: u16) -> Vec<ReadBlock> {
    let mut order: Vec<usize> = (0..tags.len()).collect();
    order.sort_by_key(|&i| (tags[i].kind, tags[i].address, tags[i].span()));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for i in order {
        let t = &tags[i];
        let limit = u32::from(if t.kind.is_bit() {
            max_bits
        } else {
            max_registers
        });
        let (start, end) = (
            u32::from(t.address),
            u32::from(t.address) + u32::from(t.span()),
        );
        if let Some(b) = blocks.last_mut() {
            let b_end = u32::from(b.start) + u32::from(b.count);
            let new_end = b_end.max(end);
            if b.kind == t.kind
                && start <= b_end + u32::from(max_gap)
                && new_end - u32::from(b.start) <= limit
            {
                b.count = (new_end - u32::from(b.start)) as u16;
                b.tags.push(i);
                continue;
            }
        }
        blocks.push(ReadBlock {
            kind: t.kind,
            start: t.address,
            count: (end - start) as u16,
            tags: vec![i],
        });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::config::{DataType, WordOrder};

    fn tag(kind: RegisterKind, address: u16, ty: DataType) -> TagConfig {
        TagConfig {
            name: format!("t{address}"),
            platform_tag: None,
            kind,
            address,
            data_type: ty,
            order: WordOrder::Abcd,
            length: 0,
            scale: 1.0,
            offset: 0.0,
            deadband: 0.0,
            unit: None,
            writable: false,
        }
    }

    #[test]
    fn span_over_125_registers_is_split() {
        // 100 f32 tags back to back: 200 registers → 125 + 75, never splitting a value.
        let tags: Vec<_> = (0..100)
            .map(|i| tag(RegisterKind::Holding, i * 2, DataType::F32))
            .collect();
        let blocks = plan(&tags, 0, 125, 2000);
        assert_eq!(blocks.len(), 2);
        assert_eq!((blocks[0].start, blocks[0].count), (0, 124));
        assert_eq!((blocks[1].start, blocks[1].count), (124, 76));
        assert!(blocks.iter().all(|b| b.count <= 125));
        assert_eq!(blocks.iter().map(|b| b.tags.len()).sum::<usize>(), 100);
    }

    #[test]
    fn gaps_and_tables_split_blocks() {
        let tags = vec![
            tag(RegisterKind::Holding, 0, DataType::U16),
            tag(RegisterKind::Holding, 5, DataType::U16),
            tag(RegisterKind::Holding, 30, DataType::U16),
            tag(RegisterKind::Input, 1, DataType::U16),
            tag(RegisterKind::Coil, 0, DataType::Bool),
            tag(RegisterKind::Coil, 1999, DataType::Bool),
        ];
        let blocks = plan(&tags, 8, 125, 2000);
        let shape: Vec<_> = blocks.iter().map(|b| (b.kind, b.start, b.count)).collect();
        assert_eq!(
            shape,
            vec![
                (RegisterKind::Coil, 0, 1),
                (RegisterKind::Coil, 1999, 1),
                (RegisterKind::Input, 1, 1),
                (RegisterKind::Holding, 0, 6),
                (RegisterKind::Holding, 30, 1),
            ]
        );
    }

    #[test]
    fn coils_split_at_2000() {
        let tags: Vec<_> = (0..2001)
            .map(|i| tag(RegisterKind::Coil, i, DataType::Bool))
            .collect();
        let blocks = plan(&tags, 0, 125, 2000);
        let shape: Vec<_> = blocks.iter().map(|b| (b.start, b.count)).collect();
        assert_eq!(shape, vec![(0, 2000), (2000, 1)]);
    }
}
