/* image_decode.c - image files in memory -> 8-bit RGB (sj_image).
 *
 * Seized material is hostile input. Every decoder here is a maintained
 * Debian library (libjpeg-turbo, libpng, libwebp, libtiff, giflib,
 * libheif) reading from memory, with its error path turned into a status
 * (no printing, no exit); the only hand-written parser is BMP, which takes
 * the plain uncompressed forms and checks every size against the buffer.
 * The format comes from the first bytes, never from the name. Sizes are
 * checked against SJ_IMAGE_MAX_PIXELS before pixel memory is taken. Alpha
 * is dropped, not composited (PIL convert("RGB") does the same). EXIF
 * orientation is not applied (neither pdqhash nor imagehash apply it). */
#include "image/image_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <tiffio.h>
#include <webp/decode.h>
#ifdef SIMJOIN_HAVE_HEIF
#include <libheif/heif.h>
#endif

void sj_image_release(sj_image *im)
{
    if (!im)
        return;
    free(im->rgb);
    im->rgb = NULL;
    im->capacity = 0;
    im->width = im->height = 0;
}

sj_status sj_image_alloc(sj_image *out, int width, int height, int64_t max_pixels)
{
    out->width = out->height = 0;
    if (width <= 0 || height <= 0)
        return sj_fail(SJ_ERR_FORMAT, "empty image (%d x %d)", width, height);
    if ((int64_t)width * height > max_pixels)
        return sj_fail(SJ_ERR_LIMIT, "image too large (%d x %d)", width, height);
    size_t need = (size_t)width * height * 3;
    if (!out->rgb || out->capacity < need) { /* else the previous image's buffer is reused */
        free(out->rgb);
        out->capacity = 0;
        if (!(out->rgb = malloc(need)))
            return sj_fail(SJ_ERR_NOMEM, "out of memory (image of %d x %d)", width, height);
        out->capacity = need;
    }
    out->width = width;
    out->height = height;
    return SJ_OK;
}

/* ---- JPEG (libjpeg-turbo) ----------------------------------------------- */

typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int warnings;
} jpeg_guard;

static void jpeg_on_error(j_common_ptr cinfo)
{
    longjmp(((jpeg_guard *)cinfo->err)->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0) /* a warning: corrupt data; libjpeg goes on (gray fill) */
        ((jpeg_guard *)cinfo->err)->warnings++;
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static sj_status decode_jpeg(const uint8_t *data, size_t size, int min_side, sj_image *out, int64_t max_pixels)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_guard guard;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&guard.mgr);
    guard.mgr.error_exit = jpeg_on_error;
    guard.mgr.emit_message = jpeg_on_message;
    guard.mgr.output_message = jpeg_silent;
    guard.warnings = 0;
    uint8_t *volatile row = NULL;
    volatile int cmyk = 0;
    if (setjmp(guard.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free((void *)row);
        sj_image_release(out);
        return sj_fail(SJ_ERR_FORMAT, "corrupt JPEG");
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if ((int64_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return sj_fail(SJ_ERR_LIMIT, "image too large (%u x %u)", cinfo.image_width,
                       cinfo.image_height);
    }
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
    } else
        cinfo.out_color_space = JCS_RGB;
    /* Reduced-size decoding: the largest 1/2^k (k <= 3) keeping both sides
     * >= min_side. */
    if (min_side > 0) {
        unsigned denom = 1;
        while (denom < 8 && cinfo.image_width / (denom * 2) >= (unsigned)min_side &&
               cinfo.image_height / (denom * 2) >= (unsigned)min_side)
            denom *= 2;
        cinfo.scale_num = 1;
        cinfo.scale_denom = denom;
    }
    jpeg_start_decompress(&cinfo);
    sj_status st = sj_image_alloc(out, (int)cinfo.output_width, (int)cinfo.output_height, max_pixels);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    int comps = cinfo.output_components;
    if (!(row = malloc((size_t)cinfo.output_width * comps))) {
        jpeg_destroy_decompress(&cinfo);
        sj_image_release(out);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out->rgb + (size_t)cinfo.output_scanline * out->width * 3;
        if (!cmyk && comps == 3) { /* RGB: straight into the image */
            JSAMPROW rows[1] = {dst};
            if (jpeg_read_scanlines(&cinfo, rows, 1) != 1)
                break;
            continue;
        }
        JSAMPROW rows[1] = {(JSAMPROW)row};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1)
            break;
        for (int x = 0; x < out->width; x++) {
            const uint8_t *s = (const uint8_t *)row + (size_t)x * comps;
            if (cmyk) { /* Adobe's inverted CMYK, as most encoders write it */
                dst[3 * x + 0] = (uint8_t)(s[0] * s[3] / 255);
                dst[3 * x + 1] = (uint8_t)(s[1] * s[3] / 255);
                dst[3 * x + 2] = (uint8_t)(s[2] * s[3] / 255);
            } else if (comps == 3)
                memcpy(dst + 3 * x, s, 3);
            else
                dst[3 * x + 0] = dst[3 * x + 1] = dst[3 * x + 2] = s[0];
        }
    }
    int truncated = cinfo.output_scanline < cinfo.output_height || guard.warnings > 0;
    if (!truncated)
        jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free((void *)row);
    if (truncated) {
        sj_image_release(out);
        return sj_fail(SJ_ERR_FORMAT, "truncated or corrupt JPEG");
    }
    return SJ_OK;
}

/* ---- PNG (libpng simplified API) ---------------------------------------- */

static sj_status decode_png(const uint8_t *data, size_t size, sj_image *out, int64_t max_pixels)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, data, size)) {
        png_image_free(&img);
        return sj_fail(SJ_ERR_FORMAT, "corrupt PNG");
    }
    /* 8-bit RGBA: palette and gray expanded, tRNS to alpha, 16-bit
     * samples reduced; no background compositing. */
    img.format = PNG_FORMAT_RGBA;
    sj_status st = sj_image_alloc(out, (int)img.width, (int)img.height, max_pixels);
    if (img.width > INT32_MAX / 4 || st) {
        png_image_free(&img);
        return st ? st : sj_fail(SJ_ERR_LIMIT, "image too large");
    }
    uint8_t *rgba = malloc((size_t)img.width * img.height * 4);
    if (!rgba) {
        png_image_free(&img);
        sj_image_release(out);
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    }
    if (!png_image_finish_read(&img, NULL, rgba, 0, NULL)) {
        png_image_free(&img);
        free(rgba);
        sj_image_release(out);
        return sj_fail(SJ_ERR_FORMAT, "truncated or corrupt PNG");
    }
    size_t n = (size_t)img.width * img.height;
    for (size_t p = 0; p < n; p++)
        memcpy(out->rgb + 3 * p, rgba + 4 * p, 3);
    free(rgba);
    png_image_free(&img);
    return SJ_OK;
}

/* ---- WebP (libwebp) ----------------------------------------------------- */

static sj_status decode_webp(const uint8_t *data, size_t size, sj_image *out, int64_t max_pixels)
{
    WebPBitstreamFeatures f;
    if (WebPGetFeatures(data, size, &f) != VP8_STATUS_OK)
        return sj_fail(SJ_ERR_FORMAT, "corrupt WebP");
    if (f.has_animation)
        return sj_fail(SJ_ERR_UNSUPPORTED, "animated WebP");
    sj_status st = sj_image_alloc(out, f.width, f.height, max_pixels);
    if (st)
        return st;
    size_t stride = (size_t)f.width * 3;
    if (!WebPDecodeRGBInto(data, size, out->rgb, stride * f.height, (int)stride)) {
        sj_image_release(out);
        return sj_fail(SJ_ERR_FORMAT, "truncated or corrupt WebP");
    }
    return SJ_OK;
}

/* ---- GIF (giflib), first frame ------------------------------------------ */

typedef struct mem_reader {
    const uint8_t *data;
    size_t size, pos;
} mem_reader;

static int gif_read(GifFileType *gif, GifByteType *buf, int len)
{
    mem_reader *r = gif->UserData;
    size_t n = len < 0 ? 0 : (size_t)len;
    if (n > r->size - r->pos)
        n = r->size - r->pos;
    memcpy(buf, r->data + r->pos, n);
    r->pos += n;
    return (int)n;
}

static sj_status decode_gif(const uint8_t *data, size_t size, sj_image *out, int64_t max_pixels)
{
    mem_reader r = {data, size, 0};
    int err = 0;
    GifFileType *gif = DGifOpen(&r, gif_read, &err);
    if (!gif)
        return sj_fail(SJ_ERR_FORMAT, "corrupt GIF");
    sj_status st = SJ_OK;
    uint8_t *line = NULL;
    GifRecordType rec;
    int found = 0;
    while (!found && !st) {
        if (DGifGetRecordType(gif, &rec) == GIF_ERROR) {
            st = sj_fail(SJ_ERR_FORMAT, "truncated or corrupt GIF");
            break;
        }
        if (rec == TERMINATE_RECORD_TYPE) {
            st = sj_fail(SJ_ERR_FORMAT, "GIF without an image");
            break;
        }
        if (rec == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext;
            if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR)
                st = sj_fail(SJ_ERR_FORMAT, "truncated or corrupt GIF");
            while (!st && ext)
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
                    st = sj_fail(SJ_ERR_FORMAT, "truncated or corrupt GIF");
            continue;
        }
        if (rec != IMAGE_DESC_RECORD_TYPE)
            continue;
        if (DGifGetImageDesc(gif) == GIF_ERROR) {
            st = sj_fail(SJ_ERR_FORMAT, "truncated or corrupt GIF");
            break;
        }
        found = 1;
    }
    if (st) {
        DGifCloseFile(gif, &err);
        return st;
    }
    GifImageDesc *d = &gif->Image;
    ColorMapObject *cmap = d->ColorMap ? d->ColorMap : gif->SColorMap;
    int cw = gif->SWidth > 0 ? gif->SWidth : d->Width, ch = gif->SHeight > 0 ? gif->SHeight : d->Height;
    if (!cmap || cmap->ColorCount <= 0 || d->Width <= 0 || d->Height <= 0)
        st = sj_fail(SJ_ERR_FORMAT, "corrupt GIF (no colour map or empty frame)");
    else if ((int64_t)d->Width * d->Height > max_pixels)
        st = sj_fail(SJ_ERR_LIMIT, "image too large");
    if (!st)
        st = sj_image_alloc(out, cw, ch, max_pixels);
    if (!st && !(line = malloc((size_t)d->Width)))
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (!st) {
        /* The canvas starts as the background colour; the frame is painted
         * where it lies on it. */
        int bg = gif->SColorMap && gif->SBackGroundColor < gif->SColorMap->ColorCount
                     ? gif->SBackGroundColor : 0;
        const GifColorType *bc = gif->SColorMap ? &gif->SColorMap->Colors[bg] : &cmap->Colors[0];
        for (size_t p = 0; p < (size_t)cw * ch; p++) {
            out->rgb[3 * p + 0] = bc->Red;
            out->rgb[3 * p + 1] = bc->Green;
            out->rgb[3 * p + 2] = bc->Blue;
        }
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        int passes = d->Interlace ? 4 : 1;
        for (int pass = 0; pass < passes && !st; pass++)
            for (int y = d->Interlace ? start[pass] : 0; y < d->Height && !st;
                 y += d->Interlace ? step[pass] : 1) {
                if (DGifGetLine(gif, line, d->Width) == GIF_ERROR) {
                    st = sj_fail(SJ_ERR_FORMAT, "truncated or corrupt GIF");
                    break;
                }
                int cy = d->Top + y;
                if (cy < 0 || cy >= ch)
                    continue;
                for (int x = 0; x < d->Width; x++) {
                    int cx = d->Left + x;
                    if (cx < 0 || cx >= cw)
                        continue;
                    int idx = line[x] < cmap->ColorCount ? line[x] : 0;
                    uint8_t *px = out->rgb + ((size_t)cy * cw + cx) * 3;
                    px[0] = cmap->Colors[idx].Red;
                    px[1] = cmap->Colors[idx].Green;
                    px[2] = cmap->Colors[idx].Blue;
                }
            }
    }
    free(line);
    DGifCloseFile(gif, &err);
    if (st)
        sj_image_release(out);
    return st;
}

/* ---- BMP (hand-written: uncompressed 1/4/8/24/32-bit, BITFIELDS 32) ----- */

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static sj_status decode_bmp(const uint8_t *data, size_t size, sj_image *out, int64_t max_pixels)
{
    if (size < 26)
        return sj_fail(SJ_ERR_FORMAT, "truncated BMP");
    uint32_t offset = le32(data + 10), hsize = le32(data + 14);
    int64_t w, h;
    int bpp, compression = 0;
    uint32_t ncolors = 0;
    if (hsize == 12) { /* OS/2 BITMAPCOREHEADER */
        w = le16(data + 18);
        h = (int16_t)le16(data + 20);
        bpp = le16(data + 24);
    } else if (hsize >= 40 && size >= 14 + 40) {
        w = (int32_t)le32(data + 18);
        h = (int32_t)le32(data + 22);
        bpp = le16(data + 28);
        compression = (int)le32(data + 30);
        ncolors = le32(data + 46);
    } else
        return sj_fail(SJ_ERR_FORMAT, "unsupported BMP header");
    int top_down = h < 0;
    if (top_down)
        h = -h;
    if (w <= 0 || h <= 0 || w > INT32_MAX || h > INT32_MAX)
        return sj_fail(SJ_ERR_FORMAT, "corrupt BMP (size)");
    if (compression != 0 && !(compression == 3 && bpp == 32))
        return sj_fail(SJ_ERR_UNSUPPORTED, "compressed BMP");
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
        return sj_fail(SJ_ERR_UNSUPPORTED, "BMP with %d bits per pixel", bpp);
    if (w * h > max_pixels)
        return sj_fail(SJ_ERR_LIMIT, "image too large");
    uint64_t stride = ((uint64_t)w * bpp + 31) / 32 * 4;
    if (offset > size || stride * (uint64_t)h > size - offset)
        return sj_fail(SJ_ERR_FORMAT, "truncated BMP");
    /* Palette: after the headers, 4 bytes an entry (3 for OS/2). */
    const uint8_t *pal = NULL;
    uint32_t pal_n = 0, entry = hsize == 12 ? 3 : 4;
    if (bpp <= 8) {
        uint64_t pal_at = 14 + (uint64_t)hsize;
        if (pal_at > offset)
            return sj_fail(SJ_ERR_FORMAT, "corrupt BMP (palette)");
        pal_n = ncolors ? ncolors : 1u << bpp;
        uint64_t room = (offset - pal_at) / entry;
        if (pal_n > room)
            pal_n = (uint32_t)room;
        if (pal_n == 0)
            return sj_fail(SJ_ERR_FORMAT, "corrupt BMP (no palette)");
        pal = data + pal_at;
    }
    sj_status st = sj_image_alloc(out, (int)w, (int)h, max_pixels);
    if (st)
        return st;
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *row = data + offset + stride * (uint64_t)(top_down ? y : h - 1 - y);
        uint8_t *dst = out->rgb + (size_t)y * w * 3;
        for (int64_t x = 0; x < w; x++) {
            uint8_t r, g, b;
            if (bpp >= 24) {
                const uint8_t *s = row + x * (bpp / 8);
                b = s[0], g = s[1], r = s[2];
            } else {
                uint32_t idx;
                if (bpp == 8)
                    idx = row[x];
                else if (bpp == 4)
                    idx = (row[x / 2] >> (x & 1 ? 0 : 4)) & 15;
                else
                    idx = (row[x / 8] >> (7 - (x & 7))) & 1;
                if (idx >= pal_n)
                    idx = 0;
                const uint8_t *c = pal + (size_t)idx * entry;
                b = c[0], g = c[1], r = c[2];
            }
            dst[3 * x] = r, dst[3 * x + 1] = g, dst[3 * x + 2] = b;
        }
    }
    return SJ_OK;
}

/* ---- TIFF (libtiff, through its RGBA interface) ------------------------- */

typedef struct tiff_mem {
    const uint8_t *data;
    toff_t size, pos;
} tiff_mem;

static tsize_t tiff_read(thandle_t h, tdata_t buf, tsize_t n)
{
    tiff_mem *m = (tiff_mem *)h;
    if (n < 0)
        return 0;
    toff_t left = m->pos < m->size ? m->size - m->pos : 0;
    toff_t k = (toff_t)n < left ? (toff_t)n : left;
    memcpy(buf, m->data + m->pos, (size_t)k);
    m->pos += k;
    return (tsize_t)k;
}
static tsize_t tiff_write(thandle_t h, tdata_t buf, tsize_t n) { return 0; }
static toff_t tiff_seek(thandle_t h, toff_t off, int whence)
{
    tiff_mem *m = (tiff_mem *)h;
    toff_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
    if (off > UINT64_MAX - base)
        return (toff_t)-1;
    m->pos = base + off;
    return m->pos;
}
static int tiff_close(thandle_t h) { return 0; }
static toff_t tiff_size(thandle_t h) { return ((tiff_mem *)h)->size; }
static int tiff_map(thandle_t h, tdata_t *base, toff_t *size) { return 0; }
static void tiff_unmap(thandle_t h, tdata_t base, toff_t size) {}

static sj_status decode_tiff(const uint8_t *data, size_t size, sj_image *out, int64_t max_pixels)
{
    tiff_mem m = {data, size, 0};
    TIFF *tif = TIFFClientOpen("image", "rm", (thandle_t)&m, tiff_read, tiff_write, tiff_seek,
                               tiff_close, tiff_size, tiff_map, tiff_unmap);
    if (!tif)
        return sj_fail(SJ_ERR_FORMAT, "corrupt TIFF");
    uint32_t w = 0, h = 0;
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
    sj_status st = w > INT32_MAX || h > INT32_MAX ? sj_fail(SJ_ERR_FORMAT, "corrupt TIFF (size)")
                                                  : sj_image_alloc(out, (int)w, (int)h, max_pixels);
    uint32_t *rgba = NULL;
    if (!st && !(rgba = malloc((size_t)w * h * sizeof *rgba)))
        st = sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (!st && !TIFFReadRGBAImageOriented(tif, w, h, rgba, ORIENTATION_TOPLEFT, 0))
        st = sj_fail(SJ_ERR_FORMAT, "truncated, corrupt or unsupported TIFF");
    if (!st)
        for (size_t p = 0; p < (size_t)w * h; p++) {
            out->rgb[3 * p + 0] = (uint8_t)TIFFGetR(rgba[p]);
            out->rgb[3 * p + 1] = (uint8_t)TIFFGetG(rgba[p]);
            out->rgb[3 * p + 2] = (uint8_t)TIFFGetB(rgba[p]);
        }
    free(rgba);
    TIFFClose(tif);
    if (st)
        sj_image_release(out);
    return st;
}

/* ---- HEIC (libheif + libde265, as Debian builds them) ---------------------- *
 * AVIF is not taken: Debian's libheif decodes it with AV1 libraries that
 * print to stderr on bad input, and the library must not print. */

static sj_status decode_heif(const uint8_t *data, size_t size, sj_image *out, int64_t max_pixels)
{
#ifdef SIMJOIN_HAVE_HEIF
    struct heif_context *ctx = heif_context_alloc();
    struct heif_image_handle *handle = NULL;
    struct heif_image *img = NULL;
    sj_status st = SJ_OK;
    if (!ctx)
        return sj_fail(SJ_ERR_NOMEM, "out of memory");
    if (heif_context_read_from_memory_without_copy(ctx, data, size, NULL).code != heif_error_Ok ||
        heif_context_get_primary_image_handle(ctx, &handle).code != heif_error_Ok)
        st = sj_fail(SJ_ERR_FORMAT, "corrupt HEIF");
    if (!st) {
        int w = heif_image_handle_get_width(handle), h = heif_image_handle_get_height(handle);
        if ((int64_t)w * h > max_pixels || w <= 0 || h <= 0)
            st = sj_fail(SJ_ERR_LIMIT, "image too large or empty (%d x %d)", w, h);
    }
    if (!st && heif_decode_image(handle, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGB,
                                 NULL).code != heif_error_Ok)
        st = sj_fail(SJ_ERR_FORMAT, "undecodable HEIF (corrupt, or no decoder for it)");
    if (!st) {
        int stride = 0;
        const uint8_t *p = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
        int w = heif_image_get_width(img, heif_channel_interleaved);
        int h = heif_image_get_height(img, heif_channel_interleaved);
        if (!p || stride < w * 3)
            st = sj_fail(SJ_ERR_FORMAT, "undecodable HEIF");
        else if (!(st = sj_image_alloc(out, w, h, max_pixels)))
            for (int y = 0; y < h; y++)
                memcpy(out->rgb + (size_t)y * w * 3, p + (size_t)y * stride, (size_t)w * 3);
    }
    if (img)
        heif_image_release(img);
    if (handle)
        heif_image_handle_release(handle);
    heif_context_free(ctx);
    return st;
#else
    (void)data, (void)size, (void)out, (void)max_pixels;
    return sj_fail(SJ_ERR_UNSUPPORTED, "HEIF (this build has no libheif)");
#endif
}

/* ---- dispatch ------------------------------------------------------------ */

static void tiff_quiet_once(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return;
#pragma omp critical(sj_tiff_handlers)
    if (!done) { /* libtiff prints to stderr by default; the library must not */
        TIFFSetErrorHandler(NULL);
        TIFFSetWarningHandler(NULL);
        __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    }
}

sj_status sj_image_decode(const uint8_t *data, size_t size, int min_side, int64_t max_pixels,
                          sj_image *out)
{
    if (max_pixels <= 0 || max_pixels > SJ_IMAGE_MAX_PIXELS)
        max_pixels = SJ_IMAGE_MAX_PIXELS;
    out->width = out->height = 0;
    if (size == 0)
        return sj_fail(SJ_ERR_FORMAT, "empty file");
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        return decode_jpeg(data, size, min_side, out, max_pixels);
    if (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8))
        return decode_png(data, size, out, max_pixels);
    if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4))
        return decode_webp(data, size, out, max_pixels);
    if (size >= 6 && (!memcmp(data, "GIF87a", 6) || !memcmp(data, "GIF89a", 6)))
        return decode_gif(data, size, out, max_pixels);
    if (size >= 2 && data[0] == 'B' && data[1] == 'M')
        return decode_bmp(data, size, out, max_pixels);
    if (size >= 4 && (!memcmp(data, "II*\0", 4) || !memcmp(data, "MM\0*", 4) ||
                      !memcmp(data, "II+\0", 4) || !memcmp(data, "MM\0+", 4))) {
        tiff_quiet_once();
        return decode_tiff(data, size, out, max_pixels);
    }
    if (size >= 12 && !memcmp(data + 4, "ftyp", 4) &&
        (!memcmp(data + 8, "heic", 4) || !memcmp(data + 8, "heix", 4) ||
         !memcmp(data + 8, "hevc", 4) || !memcmp(data + 8, "heim", 4) ||
         !memcmp(data + 8, "heis", 4) || !memcmp(data + 8, "mif1", 4) ||
         !memcmp(data + 8, "msf1", 4)))
        return decode_heif(data, size, out, max_pixels);
    return sj_fail(SJ_ERR_UNSUPPORTED, "not an image (unknown format)");
}
