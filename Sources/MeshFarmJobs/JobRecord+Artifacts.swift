extension JobRecord {
    /// Every artifact the job holds on to: its model and every artifact a
    /// task's result names (meshes, OBJ files, images, depth and normal
    /// maps, the contact sheet, a split's parts), whatever the task's state. The storage
    /// collector keeps these while the job exists (mark and sweep).
    public var artifacts: Set<String> {
        var hashes: Set<String> = [model]
        for task in tasks {
            switch task.result {
            case .analyze(let result): hashes.formUnion([result.mesh, result.obj])
            case .reduce(let result): hashes.formUnion([result.mesh, result.obj])
            case .render(let result):
                for view in result.views {
                    hashes.insert(view.image)
                    if let depth = view.depth { hashes.insert(depth) }
                    if let normals = view.normals { hashes.insert(normals) }
                }
            case .finalize(let result): hashes.insert(result.contactSheet)
            case .partition(let result): hashes.formUnion(result.parts.map(\.part))
            case .reducePart(let result): hashes.insert(result.part)
            case .stitch(let result): hashes.formUnion([result.mesh, result.obj])
            case nil: break
            }
        }
        return hashes
    }
}
