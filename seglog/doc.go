// Package seglog is a segmented, append-only log of Kafka record batches
// (magic v2), one log per topic-partition. It is merlin's on-disk storage:
// the broker wraps one Log per partition, and the producer's disk spill
// reuses it, since spilled data is exactly the batches that will be sent.
//
// A Log stores each batch as it was received, patching only its base
// offset (which the batch CRC does not cover), so an append is one copy
// and one write, and a read can hand file bytes to the network as they are.
//
//	l, err := seglog.Open(dir, seglog.Options{})
//	base, last, err := l.Append(batch)    // assigns offsets base..last
//	s, err := l.Read(offset, 1<<20)       // whole batches from offset
//	b, err := s.AppendTo(buf)             // or s.WriteTo(conn)
//	s.Close()
//
// WriteTo to a TCP connection on Linux sends the bytes with sendfile(2)
// once they are known valid (Slice.Checked): appended or recovered by this
// process, or read and checked once.
//
// # Layout
//
// A log is a directory of segments. A segment is named by its base offset,
// the offset of its first record, in 20 zero-padded digits, as in Kafka:
//
//	00000000000000000000.log        record batches
//	00000000000000000000.index      sparse offset index
//	00000000000000000000.timeindex  time index
//	00000000000000004711.log        the newest (active) segment: no index files
//
// Only the newest segment is written. It has no index files: its index
// lives in memory, rebuilt by the scan that Open runs on it anyway, and its
// files are written when the segment is sealed (rolled). The directory may
// hold other files; Open touches only names of the forms above, with
// .tmp or .deleted appended.
//
// # File formats
//
// A .log file is record batches back to back, byte for byte as Kafka
// defines them (see package kbatch): the 61-byte header, whose length field
// gives the batch's size, then the records. Base offsets follow each other:
// each batch starts at the offset after the last record of the one before,
// and the first at the segment's base. Nothing else is in the file.
//
// The index files are arrays of big-endian fixed-size entries, one entry in
// each per index point, in the same order:
//
//	.index      8 bytes:  relative offset uint32, file position uint32
//	.timeindex 12 bytes:  timestamp int64, relative offset uint32
//
// An index point is a batch that starts at position 0 or at least
// IndexIntervalBytes after the previous index point. The relative offset
// is the batch's base offset minus the segment's; the timestamp is the
// largest MaxTimestamp of the segment's batches up to and including this
// one, so it never decreases. To find an offset, Read takes the last index
// point at or below it and reads batch headers from there, about one index
// interval at most. To find a time, OffsetForTime skips segments whose
// newest batch is older, takes the first index point whose timestamp
// reaches the target and reads headers from the point before it.
//
// Index files carry no checksum: they are checked against the log and
// rebuilt from it. Open checks an older segment's pair cheaply (whole
// entries, equal counts, last entries agreeing and pointing inside the log,
// and the batches after the last entry ending exactly at the end of the
// file); the first use checks every entry; a read that finds an entry not
// pointing at the batch it names rebuilds the index and retries.
//
// # Durability: the flush policy
//
// An append writes the batch with one write(2) into the OS page cache; it
// is visible to readers when Append returns. When it reaches the disk
// depends on Options.Flush. After kill -9 (or any crash of the process
// while the machine stays up) the page cache survives, so every batch that
// Append returned for is still there, under every policy. After a power
// cut or kernel crash, only what was fsynced is certain:
//
//	always      every batch Append returned for (Append returns after
//	            the fsync; concurrent appends share one fsync)
//	every=N     every batch up to the last multiple of N records; at most
//	            the last N-1 records appended can be lost
//	interval=T  (the default, T = 1s) every batch appended before the
//	            last fsync, which runs T after the first append since the
//	            one before (from a timer): at most about T of appends can
//	            be lost
//	never       every batch in a sealed segment; the active segment's
//	            appends since its last fsync depend on the OS's writeback
//
// Under every policy a segment is fsynced before the next one is created,
// so sealed segments never lose data, and Sync and Close fsync everything.
// To keep that fsync short, a background fsync of the active segment runs
// after every SegmentBytes/8 appended. Segment creation, index files and
// deletions are made durable with directory fsyncs. Whatever a power cut
// loses is at the tail of the newest segment, where recovery cuts it off
// cleanly: a lost write never leaves a gap or garbage in the middle.
//
// # Recovery
//
// Open recovers whatever state a crash at any point left:
//
//   - files left by interrupted operations are finished or removed:
//     *.tmp files of an index rewrite, *.deleted files of a retention
//     deletion, and index files whose segment is gone;
//   - older segments' index files are checked as above and rebuilt when
//     missing or stale;
//   - the newest segment, and only it, is scanned batch by batch, checking
//     each batch's length, magic, CRC-32C and base offset; everything from
//     the first bad batch on (a torn write, garbage, zeros) is truncated
//     and the cut is logged at level WARN with the offset where it starts
//     and the number of bytes cut.
//
// Corruption in an older segment is not repaired (nothing there was torn by
// a crash: it was fsynced) but never served either: every read validates
// each batch's CRC and offsets, and returns an error wrapping ErrCorrupt
// with the valid batches before the bad one. An older segment whose batch
// headers stop chaining has the rest of its offsets reported as ErrCorrupt.
//
// Atomic operations are ordered so that a crash between any two steps
// leaves a state that Open accepts:
//
//   - roll: fsync the segment; write its .index and .timeindex, each to a
//     .tmp file, fsynced, then renamed; fsync the directory; create the
//     new segment file; fsync the directory;
//   - deletion: rename the segment's files to *.deleted, oldest segment
//     first and .log first; fsync the directory; remove them once no Slice
//     reads them; fsync the directory;
//   - index rebuild: the same temporary-file-and-rename as a roll.
//
// # Retention
//
// ApplyRetention (called by the owner, e.g. every few minutes) deletes
// sealed segments from the oldest on, while the log without the segment
// is still at least RetentionBytes, or while the segment's newest
// timestamp (its largest MaxTimestamp; the file's modification time when
// its batches carry no timestamp) is older than RetentionAge. It never
// deletes the active segment, so with RetentionAge set, SegmentAge defaults
// to at most RetentionAge and a slow partition still rolls. StartOffset
// moves to the first remaining segment; reading below it gives
// ErrOffsetOutOfRange. A Slice already read from a deleted segment stays
// readable until closed.
//
// # Open files
//
// Segment file handles are opened on demand through a FileCache, which
// closes an idle handle not used lately (the clock algorithm, an
// approximate LRU) when more than its bound are open; pinning an open
// handle for a read or write is an atomic operation, without the cache's
// lock. Share one FileCache between all the Logs of a process to bound its
// open files however many partitions it has. A sealed segment whose handle
// was closed also drops its index from memory and costs a few hundred
// bytes until it is read again.
//
// # Defaults
//
//	SegmentBytes        64 MiB: the recovery scan of the
//	                    newest segment reads at most this much, and
//	                    retention deletes in steps of this size
//	SegmentRecords      math.MaxInt32 offsets, the limit of relative
//	                    offsets: size and age decide
//	SegmentAge          7 days (Kafka's log.roll.hours), at most RetentionAge
//	IndexIntervalBytes  4096 (Kafka's log.index.interval.bytes): an index
//	                    costs 20 bytes of file and 16 of memory per 4 KiB
//	Flush               interval=1s: bounded loss on power cut for one
//	                    fsync a second per busy log
//	RetentionAge/Bytes  0: keep everything
//	Files               a private FileCache of 8 handles
//
// # Concurrency
//
// A Log is safe for concurrent use. Appends are serialized; reads run in
// parallel with them and with each other, holding the log's lock only to
// copy a few fields (readers never wait for a write or an fsync). A Log
// must own its directory: do not open one directory twice.
package seglog
