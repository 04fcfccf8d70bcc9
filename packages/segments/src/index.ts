export {
  SEGMENT_ERROR_CODES,
  SegmentError,
  isSegmentError,
  type SegmentErrorCode,
  type SegmentErrorOptions,
} from './errors.js';
export { MAX_SEGMENT_EVENTS, encodeSegment, type EncodeSegmentOptions } from './encode-segment.js';
export {
  SegmentColumns,
  decodeSegment,
  decodeSegmentColumns,
  segmentEvents,
  type DecodeSegmentOptions,
  type DecodedSegment,
  type SegmentExpectation,
} from './decode-segment.js';
export {
  SEGMENT_CODEC_VERSION,
  SEGMENT_MAGIC,
  readSegmentHeader,
  type ReadSegmentHeaderOptions,
  type SegmentHeader,
} from './segment-header.js';
export {
  segmentRow,
  verifySegmentRow,
  type SegmentRowColumns,
  type SegmentRowValues,
} from './segment-row.js';
