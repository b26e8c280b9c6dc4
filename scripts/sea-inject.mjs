// Puts a Node single-executable-application blob into a copy of the node binary, as postject does
// on Linux, without postject: the blob becomes an ELF note named NODE_SEA_BLOB in a new loadable
// segment, and the SEA fuse is flipped. Node finds the note through dl_iterate_phdr (PT_NOTE
// segments of the running executable), so the note must be mapped: the program header table is
// moved to the end of the file (where there is room for two more entries) together with the note,
// and one new PT_LOAD maps both. Nothing else in the file moves. ELF64 little-endian only.
//
// Usage (as a module): injectSeaBlob(nodeBinary, blob) → Buffer of the new executable.
const PT_LOAD = 1;
const PT_NOTE = 4;
const PT_PHDR = 6;
const PAGE = 0x10000; // 64 KiB: a multiple of every page size Linux uses on x64 and arm64
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const NOTE_NAME = 'NODE_SEA_BLOB';

const alignUp = (n, a) => Math.ceil(n / a) * a;

export function injectSeaBlob(binary, blob) {
  if (binary.readUInt32BE(0) !== 0x7f454c46 || binary[4] !== 2 || binary[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const phoff = Number(binary.readBigUInt64LE(0x20));
  const phentsize = binary.readUInt16LE(0x36);
  const phnum = binary.readUInt16LE(0x38);
  if (phentsize !== 56) throw new Error(`unexpected program header size ${phentsize}`);
  const phdrs = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * 56;
    phdrs.push({
      type: binary.readUInt32LE(o),
      flags: binary.readUInt32LE(o + 4),
      offset: binary.readBigUInt64LE(o + 8),
      vaddr: binary.readBigUInt64LE(o + 16),
      paddr: binary.readBigUInt64LE(o + 24),
      filesz: binary.readBigUInt64LE(o + 32),
      memsz: binary.readBigUInt64LE(o + 40),
      align: binary.readBigUInt64LE(o + 48),
    });
  }
  if (phdrs.some((p) => p.type === PT_NOTE && noteNames(binary, p).includes(NOTE_NAME))) throw new Error('the binary already holds a SEA blob');
  const loads = phdrs.filter((p) => p.type === PT_LOAD);
  // vaddr - offset of the first loadable segment: the new segment keeps the same relation, so that
  // kernels which compute AT_PHDR as (first load's bias + e_phoff) find the moved table too.
  const bias = loads[0].vaddr - loads[0].offset;
  const memEnd = loads.reduce((m, p) => (p.vaddr + p.memsz > m ? p.vaddr + p.memsz : m), 0n);
  const start = alignUp(Math.max(binary.length, Number(memEnd - bias)), PAGE);

  // The region: [program header table (phnum + 2 entries)][note header, name, blob].
  const tableSize = (phnum + 2) * 56;
  const noteOffset = alignUp(tableSize, 8);
  const nameBytes = Buffer.from(`${NOTE_NAME}\0`);
  const noteHeader = Buffer.alloc(12);
  noteHeader.writeUInt32LE(nameBytes.length, 0);
  noteHeader.writeUInt32LE(blob.length, 4);
  noteHeader.writeUInt32LE(0, 8);
  const note = Buffer.concat([noteHeader, nameBytes, Buffer.alloc(alignUp(nameBytes.length, 4) - nameBytes.length), blob, Buffer.alloc(alignUp(blob.length, 4) - blob.length)]);
  const regionSize = noteOffset + note.length;
  const at = (off) => BigInt(start + off);

  const table = phdrs.map((p) => (p.type === PT_PHDR ? { ...p, offset: at(0), vaddr: bias + at(0), paddr: bias + at(0), filesz: BigInt(tableSize), memsz: BigInt(tableSize) } : p));
  table.push({ type: PT_LOAD, flags: 4, offset: at(0), vaddr: bias + at(0), paddr: bias + at(0), filesz: BigInt(regionSize), memsz: BigInt(regionSize), align: BigInt(PAGE) });
  table.push({ type: PT_NOTE, flags: 4, offset: at(noteOffset), vaddr: bias + at(noteOffset), paddr: bias + at(noteOffset), filesz: BigInt(note.length), memsz: BigInt(note.length), align: 4n });
  const region = Buffer.alloc(regionSize);
  table.forEach((p, i) => {
    const o = i * 56;
    region.writeUInt32LE(p.type, o);
    region.writeUInt32LE(p.flags, o + 4);
    region.writeBigUInt64LE(p.offset, o + 8);
    region.writeBigUInt64LE(p.vaddr, o + 16);
    region.writeBigUInt64LE(p.paddr, o + 24);
    region.writeBigUInt64LE(p.filesz, o + 32);
    region.writeBigUInt64LE(p.memsz, o + 40);
    region.writeBigUInt64LE(p.align, o + 48);
  });
  note.copy(region, noteOffset);

  const out = Buffer.concat([binary, Buffer.alloc(start - binary.length), region]);
  out.writeBigUInt64LE(BigInt(start), 0x20);
  out.writeUInt16LE(phnum + 2, 0x38);
  const fuse = Buffer.from(`${FUSE}:0`);
  const first = out.indexOf(fuse);
  if (first < 0 || out.indexOf(fuse, first + 1) >= 0) throw new Error('the SEA fuse is missing from this node binary, or found twice');
  out.write('1', first + fuse.length - 1);
  return out;
}

function noteNames(binary, p) {
  const names = [];
  let pos = Number(p.offset);
  const end = pos + Number(p.filesz);
  while (pos + 12 <= end) {
    const namesz = binary.readUInt32LE(pos);
    const descsz = binary.readUInt32LE(pos + 4);
    names.push(binary.toString('latin1', pos + 12, pos + 12 + Math.max(0, namesz - 1)));
    pos += 12 + alignUp(namesz, 4) + alignUp(descsz, 4);
  }
  return names;
}
