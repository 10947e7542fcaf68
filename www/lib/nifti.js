// NIfTI images in and out through the library nifti-reader-js: it finds, decompresses and
// reads the header and cuts out the image bytes; this module checks that the viewer can
// show the image and turns its voxels into a Float32Array (and a map back into a file).

import { Gunzip } from "fflate";
import { NIFTI1, isCompressed, readHeader, readImage } from "nifti-reader-js";

/** A file the viewer cannot open; the message says why, in words for the user. */
export class NiftiError extends Error {
  name = "NiftiError";
}

/** The datatypes the viewer reads, by NIfTI datatype code: how one voxel is read. */
const DATATYPES = {
  [NIFTI1.TYPE_UINT8]: { name: "uint8", bytes: 1, get: (view, at) => view.getUint8(at) },
  [NIFTI1.TYPE_INT16]: { name: "int16", bytes: 2, get: (view, at, le) => view.getInt16(at, le) },
  [NIFTI1.TYPE_UINT16]: { name: "uint16", bytes: 2, get: (view, at, le) => view.getUint16(at, le) },
  [NIFTI1.TYPE_INT32]: { name: "int32", bytes: 4, get: (view, at, le) => view.getInt32(at, le) },
  [NIFTI1.TYPE_FLOAT32]: { name: "float32", bytes: 4, get: (view, at, le) => view.getFloat32(at, le) },
  [NIFTI1.TYPE_FLOAT64]: { name: "float64", bytes: 8, get: (view, at, le) => view.getFloat64(at, le) },
};

/**
 * The largest image the viewer opens: 2^28 voxels (1 GiB as float32, which the maps are
 * computed on), in a file of at most 2 GiB once inflated. Beyond these a tab runs out of
 * memory, so a file past them is refused before its voxels are held.
 */
const MAX_VOXELS = 2 ** 28;
const MAX_FILE_BYTES = 2 ** 31;
/**
 * Compressed bytes inflated at a time: deflate inflates at most about 1,032-fold, so the
 * size is checked every 64 MiB or so of output, and a small file that claims to inflate to
 * gigabytes (a gzip bomb) is stopped at the limit.
 */
const GZIP_PIECE = 64 * 1024;

const tooLarge = (what) => new NiftiError(`${what}; the viewer opens images of up to ${MAX_VOXELS.toLocaleString("en")} voxels in files of up to 2 GiB`);

/**
 * The file's bytes, gunzipped if they are gzip data, a piece at a time and never past
 * `maxBytes` (the size a gzip file gives in its last bytes is not trusted).
 */
export function inflate(buffer, maxBytes = MAX_FILE_BYTES) {
  if (buffer.byteLength < 2) throw new NiftiError("the file is empty or too short to be a NIfTI image");
  if (buffer.byteLength > maxBytes) throw tooLarge(`the file is ${buffer.byteLength.toLocaleString("en")} bytes`);
  if (!isCompressed(buffer)) return buffer;
  const pieces = [];
  let total = 0;
  const gunzip = new Gunzip((piece) => {
    total += piece.length;
    if (total > maxBytes) throw tooLarge(`the file inflates to more than ${maxBytes.toLocaleString("en")} bytes`);
    pieces.push(piece);
  });
  const input = new Uint8Array(buffer);
  try {
    for (let at = 0; at < input.length; at += GZIP_PIECE) {
      const end = Math.min(at + GZIP_PIECE, input.length);
      gunzip.push(input.subarray(at, end), end === input.length);
    }
  } catch (e) {
    if (e instanceof NiftiError) throw e;
    throw new NiftiError(`the file looks gzip-compressed but does not decompress (damaged or cut short?): ${e.message}`);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const piece of pieces) {
    bytes.set(piece, at);
    at += piece.length;
  }
  return bytes.buffer;
}

function parseHeader(bytes) {
  try {
    return readHeader(bytes);
  } catch {
    throw new NiftiError("this is not a NIfTI image (no NIfTI-1 or NIfTI-2 header)");
  }
}

/** [nt, nz, ny, nx] of a header with 1 to 4 dimensions (missing ones are 1). */
function shapeOf(header) {
  const ndim = header.dims[0];
  if (!(ndim >= 1 && ndim <= 7)) throw new NiftiError(`the header is damaged: ${ndim} dimensions`);
  if (ndim > 4) throw new NiftiError(`the image has ${ndim} dimensions; the viewer opens 3D and 4D images`);
  const size = (d) => (d <= ndim ? header.dims[d] : 1);
  const [nx, ny, nz, nt] = [size(1), size(2), size(3), size(4)];
  if (![nx, ny, nz, nt].every((n) => Number.isSafeInteger(n) && n >= 1)) {
    throw new NiftiError(`the header is damaged: dimensions ${header.dims.slice(1, ndim + 1).join(" × ")}`);
  }
  return [nt, nz, ny, nx];
}

function datatypeOf(header) {
  const type = DATATYPES[header.datatypeCode];
  if (!type) {
    const names = Object.values(DATATYPES).map((t) => t.name).join(", ");
    const known = header.getDatatypeCodeString(header.datatypeCode);
    const what = known === "Unknown" ? `datatype code ${header.datatypeCode}` : `${known} voxels (datatype code ${header.datatypeCode})`;
    throw new NiftiError(`${what}: not supported; the viewer reads ${names}`);
  }
  if (header.numBitsPerVoxel !== type.bytes * 8) {
    throw new NiftiError(`the header is damaged: ${header.numBitsPerVoxel} bits per voxel for ${type.name}`);
  }
  return type;
}

/** The voxels as float32, scaled by scl_slope and scl_inter when the slope is set (non-zero). */
function toFloat32(image, count, type, littleEndian, header) {
  const view = new DataView(image);
  const scaled = Number.isFinite(header.scl_slope) && header.scl_slope !== 0;
  const slope = scaled ? header.scl_slope : 1;
  const inter = scaled && Number.isFinite(header.scl_inter) ? header.scl_inter : 0;
  const out = new Float32Array(count);
  for (let i = 0, at = 0; i < count; i++, at += type.bytes) out[i] = type.get(view, at, littleEndian) * slope + inter;
  return out;
}

/** Voxel sizes in mm (pixdim 1 to 3; 1 where the header has none). */
function voxelSizes(header) {
  return [1, 2, 3].map((d) => {
    const mm = Math.abs(header.pixDims[d]);
    return mm > 0 && Number.isFinite(mm) ? mm : 1;
  });
}

/**
 * Reads a .nii or .nii.gz file's bytes. Returns { header (nifti-reader-js's), shape
 * [nt, nz, ny, nx], voxelMm [dx, dy, dz], datatype, data (Float32Array, x fastest),
 * calWindow ([cal_min, cal_max], or null if the header sets none) }.
 * Throws NiftiError for a file the viewer cannot show.
 */
export function readNifti(buffer) {
  const bytes = inflate(buffer);
  const header = parseHeader(bytes);
  const shape = shapeOf(header);
  const type = datatypeOf(header);
  const count = shape.reduce((a, n) => a * n, 1);
  if (count > MAX_VOXELS) throw tooLarge(`the image has ${count.toLocaleString("en")} voxels`);
  const image = readImage(header, bytes);
  if (image.byteLength < count * type.bytes) {
    throw new NiftiError(`the file is cut short: ${image.byteLength.toLocaleString("en")} of ${(count * type.bytes).toLocaleString("en")} bytes of voxels`);
  }
  const data = toFloat32(image, count, type, header.littleEndian, header);
  const calWindow = header.cal_max > header.cal_min ? [header.cal_min, header.cal_max] : null;
  return { header, shape, voxelMm: voxelSizes(header), datatype: type.name, data, calWindow };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Where the voxels of a written file start: the 348-byte header and 4 extension bytes. */
const VOX_OFFSET = 352;
/** The geometry a derived map keeps from its source image. */
const GEOMETRY = ["qform_code", "sform_code", "quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z"];

/**
 * A NIfTI-1 file (.nii) of one float32 map on the grid of `source` (a header readNifti
 * returned): its dimensions, voxel sizes, qform and sform. `data` holds nx * ny * nz values.
 * The header is written by nifti-reader-js (NIFTI1.toArrayBuffer).
 */
export function writeNifti(source, data, description = "") {
  const [nx, ny, nz] = [1, 2, 3].map((d) => (d <= source.dims[0] ? source.dims[d] : 1));
  if (data.length !== nx * ny * nz) throw new Error(`writeNifti: ${data.length} values for ${nx}×${ny}×${nz} voxels`);
  const header = new NIFTI1();
  header.littleEndian = LITTLE_ENDIAN; // the Float32Array's bytes are copied as they are
  header.dims = [3, nx, ny, nz, 1, 1, 1, 1];
  header.pixDims = [source.pixDims[0] || 1, ...voxelSizes(source), 1, 1, 1, 1];
  header.datatypeCode = NIFTI1.TYPE_FLOAT32;
  header.numBitsPerVoxel = 32;
  header.vox_offset = VOX_OFFSET;
  header.scl_slope = 1;
  header.scl_inter = 0;
  header.xyzt_units = source.xyzt_units & NIFTI1.SPATIAL_UNITS_MASK;
  for (const field of GEOMETRY) header[field] = source[field];
  // The library writes the affine's first three rows as srow_x, srow_y, srow_z: the
  // source's sform where it has one (else the affine of its qform, which readers ignore
  // under sform_code 0).
  header.affine = source.affine.map((row) => [...row]);
  header.description = description.replace(/[^\x20-\x7e]/g, "?").slice(0, 79); // 80 bytes, NUL-terminated
  header.magic = "n+1";
  const head = new Uint8Array(header.toArrayBuffer());
  const file = new Uint8Array(VOX_OFFSET + data.byteLength); // the extension bytes stay 0: none
  file.set(head.subarray(0, VOX_OFFSET));
  file.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), VOX_OFFSET);
  return file.buffer;
}
