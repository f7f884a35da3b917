// Sutherland-Hodgman clipping of a clip-space triangle against the near
// plane and the guard band. Only raster_clipped.comp includes this.

const int MAX_POLY = 9;    // a triangle clipped by 5 planes has at most 8 vertices

// Signed distances to the clip planes (inside >= 0): near, then the guard band.
float planeDistance(vec3 c, int plane) {
    if (plane == 0) return c.z - pc.near;
    if (plane == 1) return GUARD * c.z - c.x;
    if (plane == 2) return GUARD * c.z + c.x;
    if (plane == 3) return GUARD * c.z - c.y;
    return GUARD * c.z + c.y;
}

// The clipped polygon of the current triangle (Sutherland-Hodgman).
vec3 poly[MAX_POLY];
int polyCount;

void clipTriangle(vec3 a, vec3 b, vec3 c) {
    poly[0] = a; poly[1] = b; poly[2] = c;
    polyCount = 3;
    bool needsClip = false;
    for (int p = 0; p < 5; ++p) {
        if (planeDistance(a, p) < 0.0 || planeDistance(b, p) < 0.0 || planeDistance(c, p) < 0.0) needsClip = true;
    }
    if (!needsClip) return;
    for (int plane = 0; plane < 5 && polyCount > 0; ++plane) {
        vec3 src[MAX_POLY];
        int n = polyCount;
        for (int i = 0; i < n; ++i) src[i] = poly[i];
        polyCount = 0;
        for (int i = 0; i < n; ++i) {
            vec3 cur = src[i];
            vec3 nxt = src[(i + 1) % n];
            float dc = planeDistance(cur, plane);
            float dn = planeDistance(nxt, plane);
            if (dc >= 0.0 && polyCount < MAX_POLY) poly[polyCount++] = cur;
            if ((dc >= 0.0) != (dn >= 0.0) && polyCount < MAX_POLY) {
                poly[polyCount++] = mix(cur, nxt, dc / (dc - dn));
            }
        }
    }
}

