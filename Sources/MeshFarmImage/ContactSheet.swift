extension RGBAImage {
    /// A copy scaled to fit `size` x `size` (keeping the aspect ratio) with
    /// an area-averaging filter on premultiplied alpha, so edges against a
    /// transparent background neither darken nor fringe.
    public func scaledToFit(_ size: Int) -> RGBAImage {
        let scale = Double(size) / Double(max(width, height))
        let w = max(1, Int((Double(width) * scale).rounded()))
        let h = max(1, Int((Double(height) * scale).rounded()))
        var out = RGBAImage(width: w, height: h)
        for y in 0..<h {
            let y0 = Double(y) / scale
            let y1 = Double(y + 1) / scale
            for x in 0..<w {
                let x0 = Double(x) / scale
                let x1 = Double(x + 1) / scale
                var sum = SIMD4<Double>.zero
                var weight = 0.0
                for sy in Int(y0)..<min(height, Int(y1.rounded(.up))) {
                    let wy = min(y1, Double(sy + 1)) - max(y0, Double(sy))
                    for sx in Int(x0)..<min(width, Int(x1.rounded(.up))) {
                        let wx = min(x1, Double(sx + 1)) - max(x0, Double(sx))
                        let p = SIMD4<Double>(self[sx, sy]) / 255
                        sum += SIMD4(p.x * p.w, p.y * p.w, p.z * p.w, p.w) * (wx * wy)
                        weight += wx * wy
                    }
                }
                guard weight > 0, sum.w > 0 else { continue }
                let alpha = sum.w / weight
                let rgb = SIMD3(sum.x, sum.y, sum.z) / sum.w
                out[x, y] = SIMD4<UInt8>(
                    UInt8((rgb.x * 255).rounded()), UInt8((rgb.y * 255).rounded()), UInt8((rgb.z * 255).rounded()),
                    UInt8((alpha * 255).rounded()))
            }
        }
        return out
    }
}

/// A grid of images: one row per level of detail, one column per view,
/// composited over an opaque background so it reads in any viewer; with
/// `labels`, each row is headed by its label (``BitmapFont``).
public enum ContactSheet {
    /// `rows[r][c]` goes to cell (r, c); cells are `cell` pixels square with
    /// `gap` pixels between them and around the edge. `labels[r]`, when
    /// given, is drawn in a band above row r (cut to the sheet's width).
    public static func compose(
        rows: [[RGBAImage]], cell: Int, gap: Int = 8, labels: [String]? = nil,
        background: SIMD4<UInt8> = [245, 245, 247, 255], ink: SIMD4<UInt8> = [60, 64, 72, 255]
    ) -> RGBAImage {
        let columns = max(1, rows.map(\.count).max() ?? 1)
        let scale = cell >= 96 ? 2 : 1
        let band = labels == nil ? 0 : BitmapFont.glyphHeight * scale + gap
        let width = columns * cell + (columns + 1) * gap
        let rowHeight = cell + gap + band
        let height = max(1, rows.count) * rowHeight + gap
        var sheet = RGBAImage(width: width, height: height)
        for y in 0..<height { for x in 0..<width { sheet[x, y] = background } }
        for (r, row) in rows.enumerated() {
            let top = gap + r * rowHeight
            if let labels, r < labels.count {
                var label = labels[r]
                while BitmapFont.width(of: label, scale: scale) > width - 2 * gap { label.removeLast() }
                BitmapFont.draw(label, into: &sheet, x: gap, y: top, scale: scale, color: ink)
            }
            for (c, image) in row.enumerated() {
                let thumb = image.scaledToFit(cell)
                let ox = gap + c * (cell + gap) + (cell - thumb.width) / 2
                let oy = top + band + (cell - thumb.height) / 2
                for y in 0..<thumb.height {
                    for x in 0..<thumb.width {
                        let p = SIMD4<Double>(thumb[x, y])
                        guard p.w > 0 else { continue }
                        let a = p.w / 255
                        let b = SIMD4<Double>(sheet[ox + x, oy + y])
                        let mixed = SIMD3(p.x, p.y, p.z) * a + SIMD3(b.x, b.y, b.z) * (1 - a)
                        sheet[ox + x, oy + y] = SIMD4(
                            UInt8(mixed.x.rounded()), UInt8(mixed.y.rounded()), UInt8(mixed.z.rounded()), 255)
                    }
                }
            }
        }
        return sheet
    }
}
