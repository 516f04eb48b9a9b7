// probe_matmul_bias.c — the Float32 forward of `linear` two ways, 1 thread, on the forward shapes of
// the vit_tiny_patch4 step: what `linear` does now (bias broadcast into C, then dnnl_sgemm with
// beta 1) against oneDNN's f32 matmul primitive with a bias argument. Median of 21 calls each.
//   gcc -O2 scripts/probe_matmul_bias.c -o /tmp/probe_matmul_bias -ldnnl && OMP_NUM_THREADS=1 /tmp/probe_matmul_bias
// Results: docs/benchmarks.md ("Next: the Float32 bias in the product").
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmp(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
int main(void){
  int shapes[3][3]={{4160,192,576},{4160,192,768},{4160,768,192}};
  dnnl_engine_t eng; dnnl_engine_create(&eng,dnnl_cpu,0);
  dnnl_stream_t st; dnnl_stream_create(&st,eng,dnnl_stream_default_flags);
  for(int s=0;s<3;s++){
    long M=shapes[s][0],K=shapes[s][1],N=shapes[s][2];
    float *x=aligned_alloc(64,M*K*4),*w=aligned_alloc(64,N*K*4),*b=aligned_alloc(64,N*4),*c=aligned_alloc(64,M*N*4),*c2=aligned_alloc(64,M*N*4);
    for(long i=0;i<M*K;i++)x[i]=(float)((i*7919)%1000)/1000-0.5f;
    for(long i=0;i<N*K;i++)w[i]=(float)((i*104729)%1000)/1000-0.5f;
    for(long i=0;i<N;i++)b[i]=(float)i/N;
    double t1[21],t2[21];
    for(int r=0;r<21;r++){
      double t0=now();
      for(long i=0;i<M;i++)memcpy(c+i*N,b,N*4);
      dnnl_sgemm('N','T',M,N,K,1.f,x,K,w,K,1.f,c,N);
      t1[r]=now()-t0;
    }
    dnnl_memory_desc_t a,bw,bb,cc; dnnl_dims_t da={M,K},sa={K,1},dw={K,N},sw={1,K},db={1,N},sb={N,1},dc={M,N},sc={N,1};
    dnnl_memory_desc_init_by_strides(&a,2,da,dnnl_f32,sa);
    dnnl_memory_desc_init_by_strides(&bw,2,dw,dnnl_f32,sw);
    dnnl_memory_desc_init_by_strides(&bb,2,db,dnnl_f32,sb);
    dnnl_memory_desc_init_by_strides(&cc,2,dc,dnnl_f32,sc);
    dnnl_matmul_desc_t md; dnnl_matmul_desc_init(&md,&a,&bw,&bb,&cc);
    dnnl_primitive_desc_t pd; if(dnnl_primitive_desc_create(&pd,&md,NULL,eng,NULL)!=dnnl_success){printf("refused\n");return 1;}
    const char*impl; dnnl_primitive_desc_query(pd,dnnl_query_impl_info_str,0,&impl);
    dnnl_primitive_t p; dnnl_primitive_create(&p,pd);
    dnnl_memory_t ma,mw,mb,mc; dnnl_memory_create(&ma,&a,eng,x);dnnl_memory_create(&mw,&bw,eng,w);dnnl_memory_create(&mb,&bb,eng,b);dnnl_memory_create(&mc,&cc,eng,c2);
    dnnl_exec_arg_t args[4]={{DNNL_ARG_SRC,ma},{DNNL_ARG_WEIGHTS,mw},{DNNL_ARG_BIAS,mb},{DNNL_ARG_DST,mc}};
    for(int r=0;r<21;r++){double t0=now();dnnl_primitive_execute(p,st,4,args);dnnl_stream_wait(st);t2[r]=now()-t0;}
    double maxd=0;for(long i=0;i<M*N;i++){double d=c[i]-c2[i];if(d<0)d=-d;if(d>maxd)maxd=d;}
    qsort(t1,21,8,cmp);qsort(t2,21,8,cmp);
    double fl=2.0*M*N*K;
    printf("%ldx%ldx%ld sgemm+bcast %.1f GF/s  matmul+bias %.1f GF/s (%s) max|diff| %.2e\n",M,K,N,fl/t1[10]/1e9,fl/t2[10]/1e9,impl,maxd);
  }
}
